with queues as (

    select * from staging.stg_llm_obs__annotation_queues

),

tombstones as (

    select id, detected_at
    from staging.stg_llm_obs__tombstones
    where entity = 'annotation_queue'

),

flagged as (

    select
        queues.queue_id,
        queues.project_id,
        queues.name,
        queues.description,
        queues.owned_by,
        queues.created_by,
        queues.modified_by,
        queues.created_at,
        queues.modified_at,
        queues.can_manage_access,
        queues.restrict_to_assignees,
        queues.restrict_to_reviewers,
        queues.reviewer_emails,
        tombstones.id is not null as is_deleted,
        tombstones.detected_at as vanished_detected_at,
        queues.synced_at

    from queues

    left join tombstones
        on queues.queue_id = tombstones.id

)

select * from flagged
