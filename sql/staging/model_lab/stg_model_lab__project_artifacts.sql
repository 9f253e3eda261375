-- files of the flat project listings; paths are relative to the project's artifact root
with source as (

    select * from raw_model_lab.project_artifacts

),

renamed as (

    select
        ----------  ids
        project_id,

        ----------  strings
        artifact_path,
        filename,

        ----------  numerics
        file_size,

        ----------  timestamps
        created_at,
        _synced_at as listed_at

    from source

)

select * from renamed
