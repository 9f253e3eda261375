-- labels removed from a queue's schema (or of a deleted queue) stay, flagged deleted
with label_schemas as (

    select * from staging.stg_llm_obs__label_schemas

),

reads as (

    select parent_id, read_at, next_read_at
    from staging.stg_llm_obs__snapshots
    where collection = 'label_schemas'

),

queue_tombstones as (

    select id, detected_at
    from staging.stg_llm_obs__tombstones
    where entity = 'annotation_queue'

),

flagged as (

    select
        label_schemas.queue_id,
        label_schemas.label_id,
        label_schemas.name,
        label_schemas.type,
        label_schemas.description,
        label_schemas.is_required,
        label_schemas.min,
        label_schemas.max,
        label_schemas.is_integer,
        label_schemas.allowed_values,
        label_schemas.has_assessment,
        label_schemas.has_reasoning,
        label_schemas.is_assessment,
        label_schemas.position,
        (reads.next_read_at is not null or queue_tombstones.id is not null) as is_deleted,
        coalesce(reads.next_read_at, queue_tombstones.detected_at) as vanished_detected_at

    from label_schemas

    left join reads
        on label_schemas.queue_id = reads.parent_id
        and label_schemas.read_at = reads.read_at

    left join queue_tombstones
        on label_schemas.queue_id = queue_tombstones.id

)

select * from flagged
