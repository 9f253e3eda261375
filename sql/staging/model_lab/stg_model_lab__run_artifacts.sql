-- an entry is current only if it came with its run's last walk
with source as (

    select * from raw_model_lab.run_artifacts

),

walks as (

    select run_id, _synced_at from raw_model_lab.run_artifact_walks

),

current_rows as (

    select
        source.run_id,
        source.project_id,
        source.path,
        source.artifact_path,
        source.is_dir,
        source.file_size,
        source._position as position,
        source._synced_at as walked_at

    from source

    inner join walks
        on source.run_id = walks.run_id
        and source._synced_at = walks._synced_at

)

select * from current_rows
