-- PostHog LLM evaluations (judges and Hog checks); deleted ones stay, flagged `is_deleted`
with evaluations as (

    select * from staging.stg_posthog__evaluations

),

tombstones as (

    select id, detected_at
    from staging.stg_posthog__tombstones
    where entity = 'posthog_evaluation'

),

flagged as (

    select
        evaluations.evaluation_id,
        evaluations.name,
        evaluations.description,
        evaluations.enabled,
        evaluations.status,
        evaluations.status_reason,
        evaluations.evaluation_type,
        evaluations.output_type,
        evaluations.evaluation_config,
        evaluations.output_config,
        evaluations.conditions,
        evaluations.model_configuration,
        evaluations.target,
        evaluations.target_config,
        evaluations.created_by,
        evaluations.created_at,
        evaluations.updated_at,
        coalesce(tombstones.detected_at > evaluations.synced_at, false) as is_vanished,
        evaluations.is_soft_deleted or is_vanished as is_deleted,
        case when is_vanished then tombstones.detected_at end as vanished_detected_at,
        evaluations.synced_at

    from evaluations

    left join tombstones
        on evaluations.evaluation_id = tombstones.id

),

final as (

    select * exclude (is_vanished) from flagged

)

select * from final
