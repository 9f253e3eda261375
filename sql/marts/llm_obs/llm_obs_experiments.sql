-- soft deletes come from the API (`deleted_at`); experiments that vanished (tombstones), or
-- whose project did (the API soft-deletes them with it but no longer lists them), are flagged
with experiments as (

    select * from staging.stg_llm_obs__experiments

),

tombstones as (

    select id, detected_at
    from staging.stg_llm_obs__tombstones
    where entity = 'experiment'

),

project_tombstones as (

    select id, detected_at
    from staging.stg_llm_obs__tombstones
    where entity = 'project'

),

flagged as (

    select
        experiments.experiment_id,
        experiments.project_id,
        experiments.dataset_id,
        experiments.dataset_version,
        experiments.name,
        experiments.experiment,
        experiments.description,
        experiments.status,
        experiments.error,
        experiments.parent_experiment_id,
        experiments.config,
        experiments.metadata,
        experiments.aggregate_data,
        experiments.run_count,
        experiments.author ->> 'id' as author_id,
        experiments.author ->> 'email' as author_email,
        experiments.created_at,
        experiments.updated_at,
        experiments.deleted_at,
        (
            experiments.deleted_at is not null
            or tombstones.id is not null
            or project_tombstones.id is not null
        ) as is_deleted,
        coalesce(tombstones.detected_at, project_tombstones.detected_at) as vanished_detected_at,
        experiments.synced_at

    from experiments

    left join tombstones
        on experiments.experiment_id = tombstones.id

    left join project_tombstones
        on experiments.project_id = project_tombstones.id

)

select * from flagged
