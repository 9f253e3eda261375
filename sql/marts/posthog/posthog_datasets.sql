-- PostHog LLM analytics datasets; deleted ones stay, flagged `is_deleted`
with datasets as (

    select * from staging.stg_posthog__datasets

),

tombstones as (

    select id, detected_at
    from staging.stg_posthog__tombstones
    where entity = 'posthog_dataset'

),

vanished as (

    select
        datasets.*,
        -- a row loaded again after its id vanished (un-deleted) is live again
        coalesce(tombstones.detected_at > datasets.synced_at, false) as is_vanished,
        tombstones.detected_at

    from datasets

    left join tombstones
        on datasets.dataset_id = tombstones.id

),

final as (

    select
        dataset_id,
        name,
        description,
        metadata,
        created_by,
        team_id,
        created_at,
        updated_at,
        is_soft_deleted or is_vanished as is_deleted,
        case when is_vanished then detected_at end as vanished_detected_at,
        synced_at

    from vanished

)

select * from final
