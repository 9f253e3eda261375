with source as (

    select * from raw_llm_obs.experiments

),

renamed as (

    select
        ----------  ids
        experiment_id,
        project_id,
        dataset_id,
        parent_experiment_id,

        ----------  strings
        name,
        experiment,
        description,
        status,
        error,

        ----------  numerics
        dataset_version,
        run_count,

        ----------  json
        config::json as config,
        metadata::json as metadata,
        aggregate_data::json as aggregate_data,
        author::json as author,

        ----------  timestamps
        created_at,
        updated_at,
        deleted_at,
        _synced_at as synced_at

    from source

)

select * from renamed
