-- files downloaded by `labsync sync --artifacts-content`; local_path is where the copy is
with downloads as (

    select * from staging.stg_model_lab__artifact_downloads

),

final as (

    select
        project_id,
        artifact_path,
        file_size,
        sha256,
        local_path,
        downloaded_at

    from downloads

)

select * from final
