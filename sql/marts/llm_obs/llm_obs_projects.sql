with projects as (

    select * from staging.stg_llm_obs__projects

),

tombstones as (

    select id, detected_at
    from staging.stg_llm_obs__tombstones
    where entity = 'project'

),

flagged as (

    select
        projects.project_id,
        projects.name,
        projects.description,
        projects.created_at,
        projects.updated_at,
        tombstones.id is not null as is_deleted,
        tombstones.detected_at as vanished_detected_at,
        projects.synced_at

    from projects

    left join tombstones
        on projects.project_id = tombstones.id

)

select * from flagged
