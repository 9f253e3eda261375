-- artifact files downloaded by `labsync sync --artifacts-content`
with source as (

    select * from raw_model_lab.artifact_downloads

),

renamed as (

    select
        ----------  ids
        project_id,

        ----------  strings
        artifact_path,
        sha256,
        local_path,

        ----------  numerics
        file_size,

        ----------  timestamps
        downloaded_at

    from source

)

select * from renamed
