with source as (

    select * from raw_llm_obs.datasets

),

renamed as (

    select
        ----------  ids
        dataset_id,
        project_id,

        ----------  strings
        name,
        description,

        ----------  numerics
        current_version,

        ----------  json
        metadata::json as metadata,

        ----------  timestamps
        created_at,
        updated_at,
        _synced_at as synced_at

    from source

)

select * from renamed
