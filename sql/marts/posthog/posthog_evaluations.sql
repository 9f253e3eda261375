-- PostHog LLM evaluations (judges and Hog checks); deleted ones stay, flagged `is_deleted`
with evaluations as (

    select * from staging.stg_posthog__evaluations

),

tombstones as (

    select id, detected_at
    from staging.stg_posthog__tombstones
    where entity = 'posthog_evaluation'

),

vanished as (

    select
        evaluations.*,
        coalesce(tombstones.detected_at > evaluations.synced_at, false) as is_vanished,
        tombstones.detected_at

    from evaluations

    left join tombstones
        on evaluations.evaluation_id = tombstones.id

),

final as (

    select
        evaluation_id,
        name,
        description,
        enabled,
        status,
        status_reason,
        evaluation_type,
        output_type,
        evaluation_config,
        output_config,
        conditions,
        model_configuration,
        target,
        target_config,
        created_by,
        created_at,
        updated_at,
        is_soft_deleted or is_vanished as is_deleted,
        case when is_vanished then detected_at end as vanished_detected_at,
        synced_at

    from vanished

)

select * from final
