-- a range is current only if it came with its project's latest run-facet snapshot
with source as (

    select * from raw_model_lab.facet_metric_stat_ranges

),

snapshots as (

    select _snapshot, _synced_at from raw_model_lab.facet_snapshots

),

current_rows as (

    select
        source._snapshot as snapshot_id,
        source.project_id,
        source.facet_name,
        source.stat,
        source.min,
        source.max,
        source._synced_at as synced_at

    from source

    inner join snapshots
        on source._snapshot = snapshots._snapshot
        and source._synced_at = snapshots._synced_at

)

select * from current_rows
