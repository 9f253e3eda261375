-- PostHog LLM analytics datasets; deleted ones stay, flagged `is_deleted`
with datasets as (

    select * from staging.stg_posthog__datasets

),

tombstones as (

    select id, detected_at
    from staging.stg_posthog__tombstones
    where entity = 'posthog_dataset'

),

flagged as (

    select
        datasets.dataset_id,
        datasets.name,
        datasets.description,
        datasets.metadata,
        datasets.created_by,
        datasets.team_id,
        datasets.created_at,
        datasets.updated_at,
        -- a row loaded again after its id vanished (un-deleted) is live again
        coalesce(tombstones.detected_at > datasets.synced_at, false) as is_vanished,
        datasets.is_soft_deleted or is_vanished as is_deleted,
        case when is_vanished then tombstones.detected_at end as vanished_detected_at,
        datasets.synced_at

    from datasets

    left join tombstones
        on datasets.dataset_id = tombstones.id

),

final as (

    select * exclude (is_vanished) from flagged

)

select * from final
