with projects as (

    select * from staging.stg_model_lab__projects

),

tombstones as (

    select id, detected_at
    from staging.stg_model_lab__tombstones
    where entity = 'model_lab_project'

),

flagged as (

    select
        projects.project_id,
        projects.name,
        projects.description,
        projects.owner_id,
        projects.artifact_storage_location,
        projects.external_url,
        projects.is_starred,
        projects.created_at,
        projects.updated_at,
        projects.deleted_at,
        (projects.deleted_at is not null or tombstones.id is not null) as is_deleted,
        tombstones.detected_at as vanished_detected_at,
        projects.synced_at

    from projects

    left join tombstones
        on projects.project_id = tombstones.id

)

select * from flagged
