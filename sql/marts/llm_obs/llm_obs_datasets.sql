-- datasets with their draft lock as of the last sync (NULL holder = unlocked) and the
-- number of records the current version holds
with datasets as (

    select * from staging.stg_llm_obs__datasets

),

draft_states as (

    select * from staging.stg_llm_obs__dataset_draft_states

),

tombstones as (

    select id, detected_at
    from staging.stg_llm_obs__tombstones
    where entity = 'dataset'

),

records as (

    select * from analytics.llm_obs_dataset_records

),

record_counts as (

    select dataset_id, count(*) as record_count
    from records
    where not is_deleted
    group by dataset_id

),

joined as (

    select
        datasets.dataset_id,
        datasets.project_id,
        datasets.name,
        datasets.description,
        datasets.current_version,
        datasets.metadata,
        datasets.created_at,
        datasets.updated_at,
        tombstones.id is not null as is_deleted,
        tombstones.detected_at as vanished_detected_at,
        coalesce(draft_states.is_locked, false) as is_draft_locked,
        draft_states.locked_by_id as draft_locked_by_id,
        draft_states.locked_by_email as draft_locked_by_email,
        draft_states.locked_by_name as draft_locked_by_name,
        draft_states.drafting_since,
        coalesce(record_counts.record_count, 0) as record_count,
        datasets.synced_at

    from datasets

    left join draft_states
        on datasets.dataset_id = draft_states.dataset_id

    left join tombstones
        on datasets.dataset_id = tombstones.id

    left join record_counts
        on datasets.dataset_id = record_counts.dataset_id

)

select * from joined
