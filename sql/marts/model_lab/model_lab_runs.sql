with runs as (

    select * from staging.stg_model_lab__runs

),

run_parents as (

    select * from staging.stg_model_lab__run_parents

),

tombstones as (

    select id, detected_at
    from staging.stg_model_lab__tombstones
    where entity = 'model_lab_run'

),

joined as (

    select
        runs.run_id,
        runs.project_id,
        run_parents.parent_run_id,
        runs.name,
        runs.description,
        runs.status,
        runs.owner_id,
        runs.created_at,
        runs.updated_at,
        runs.started_at,
        runs.completed_at,
        runs.duration_s,
        runs.has_children,
        runs.is_pinned,
        runs.external_url,
        runs.mlflow_artifact_location,
        runs.deleted_at,
        (runs.deleted_at is not null or tombstones.id is not null) as is_deleted,
        tombstones.detected_at as vanished_detected_at,
        runs.synced_at

    from runs

    left join run_parents
        on runs.run_id = run_parents.run_id

    left join tombstones
        on runs.run_id = tombstones.id

)

select * from joined
