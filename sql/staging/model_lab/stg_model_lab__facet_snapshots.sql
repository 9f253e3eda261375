-- when each facet scope was last refreshed: "project" (org-wide) or "run:<project_id>"
with source as (

    select * from raw_model_lab.facet_snapshots

),

renamed as (

    select
        ----------  ids
        _snapshot as snapshot_id,
        project_id,

        ----------  strings
        scope,

        ----------  numerics
        key_count,
        value_count,

        ----------  timestamps
        _synced_at as synced_at

    from source

)

select * from renamed
