-- every record ever read; those missing from the newest read of their dataset, or whose
-- dataset is gone, are flagged deleted (never dropped)
with records as (

    select * from staging.stg_llm_obs__dataset_records

),

reads as (

    select parent_id, read_at, next_read_at
    from staging.stg_llm_obs__snapshots
    where collection = 'dataset_records'

),

dataset_tombstones as (

    select id, detected_at
    from staging.stg_llm_obs__tombstones
    where entity = 'dataset'

),

flagged as (

    select
        records.record_id,
        records.dataset_id,
        records.project_id,
        records.input,
        records.expected_output,
        records.metadata,
        records.created_at,
        records.updated_at,
        (reads.next_read_at is not null or dataset_tombstones.id is not null) as is_deleted,
        coalesce(reads.next_read_at, dataset_tombstones.detected_at) as vanished_detected_at,
        records.read_at as synced_at

    from records

    left join reads
        on records.dataset_id = reads.parent_id
        and records.read_at = reads.read_at

    left join dataset_tombstones
        on records.dataset_id = dataset_tombstones.id

)

select * from flagged
