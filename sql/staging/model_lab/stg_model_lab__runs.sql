with source as (

    select * from raw_model_lab.runs

),

renamed as (

    select
        ----------  ids
        run_id,
        project_id,
        owner_id,

        ----------  strings
        name,
        description,
        status,
        external_url,
        mlflow_artifact_location,

        ----------  numerics
        duration as duration_s,

        ----------  booleans
        has_children,
        is_pinned,

        ----------  timestamps
        created_at,
        updated_at,
        started_at,
        completed_at,
        deleted_at,
        _synced_at as synced_at

    from source

)

select * from renamed
