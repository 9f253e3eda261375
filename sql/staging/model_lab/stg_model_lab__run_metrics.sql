-- a metric summary is current only if it came with the run version in the warehouse
with source as (

    select * from raw_model_lab.run_metrics

),

runs as (

    select run_id, _synced_at from raw_model_lab.runs

),

current_rows as (

    select
        source.run_id,
        source._position as position,
        source.key,
        source.count as step_count,
        source.first_step,
        source.last_step,
        source.latest,
        source.min,
        source.max,
        source.mean,
        source.stddev

    from source

    inner join runs
        on source.run_id = runs.run_id
        and source._synced_at = runs._synced_at

)

select * from current_rows
