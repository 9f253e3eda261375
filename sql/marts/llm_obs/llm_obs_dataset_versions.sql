with versions as (

    select * from staging.stg_llm_obs__dataset_versions

),

reads as (

    select parent_id, read_at, next_read_at
    from staging.stg_llm_obs__snapshots
    where collection = 'dataset_versions'

),

dataset_tombstones as (

    select id, detected_at
    from staging.stg_llm_obs__tombstones
    where entity = 'dataset'

),

flagged as (

    select
        versions.dataset_id,
        versions.version_id,
        versions.version_number,
        versions.last_used,
        (reads.next_read_at is not null or dataset_tombstones.id is not null) as is_deleted,
        coalesce(reads.next_read_at, dataset_tombstones.detected_at) as vanished_detected_at,
        versions.read_at as synced_at

    from versions

    left join reads
        on versions.dataset_id = reads.parent_id
        and versions.read_at = reads.read_at

    left join dataset_tombstones
        on versions.dataset_id = dataset_tombstones.id

)

select * from flagged
