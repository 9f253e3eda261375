-- interactions removed from a queue (or of a deleted queue) stay, flagged deleted
with interactions as (

    select * from staging.stg_llm_obs__annotation_interactions

),

reads as (

    select parent_id, read_at, next_read_at
    from staging.stg_llm_obs__snapshots
    where collection = 'annotated_interactions'

),

queue_tombstones as (

    select id, detected_at
    from staging.stg_llm_obs__tombstones
    where entity = 'annotation_queue'

),

flagged as (

    select
        interactions.queue_id,
        interactions.interaction_id,
        interactions.interaction_type,
        interactions.content_id,
        interactions.created_at,
        interactions.modified_at,
        interactions.display_block,
        (reads.next_read_at is not null or queue_tombstones.id is not null) as is_deleted,
        coalesce(reads.next_read_at, queue_tombstones.detected_at) as vanished_detected_at,
        interactions.read_at as synced_at

    from interactions

    left join reads
        on interactions.queue_id = reads.parent_id
        and interactions.read_at = reads.read_at

    left join queue_tombstones
        on interactions.queue_id = queue_tombstones.id

)

select * from flagged
