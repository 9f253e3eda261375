with source as (

    select * from raw_model_lab.projects

),

renamed as (

    select
        ----------  ids
        project_id,
        owner_id,

        ----------  strings
        name,
        description,
        artifact_storage_location,
        external_url,

        ----------  booleans
        is_starred,

        ----------  timestamps
        created_at,
        updated_at,
        deleted_at,
        _synced_at as synced_at

    from source

)

select * from renamed
