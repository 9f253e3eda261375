-- a value is current only if it came with its scope's latest snapshot
with source as (

    select * from raw_model_lab.facet_values

),

snapshots as (

    select _snapshot, _synced_at from raw_model_lab.facet_snapshots

),

current_rows as (

    select
        source._snapshot as snapshot_id,
        source.scope,
        source.project_id,
        source.facet_type,
        source.facet_name,
        source.value,
        source.numeric_min,
        source.numeric_max,
        source._position as position,
        source._synced_at as synced_at

    from source

    inner join snapshots
        on source._snapshot = snapshots._snapshot
        and source._synced_at = snapshots._synced_at

)

select * from current_rows
