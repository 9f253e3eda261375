-- the last walk of each run's artifact tree
with source as (

    select * from raw_model_lab.run_artifact_walks

),

renamed as (

    select
        ----------  ids
        run_id,
        project_id,

        ----------  strings
        path_in_project,

        ----------  numerics
        entries as entry_count,

        ----------  booleans
        truncated as is_truncated,

        ----------  timestamps
        _synced_at as walked_at

    from source

)

select * from renamed
