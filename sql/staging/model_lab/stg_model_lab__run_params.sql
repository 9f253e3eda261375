-- a child row is current only if it came with the run version in the warehouse
with source as (

    select * from raw_model_lab.run_params

),

runs as (

    select run_id, _synced_at from raw_model_lab.runs

),

current_rows as (

    select
        source.run_id,
        source._position as position,
        source.key,
        source.value

    from source

    inner join runs
        on source.run_id = runs.run_id
        and source._synced_at = runs._synced_at

)

select * from current_rows
