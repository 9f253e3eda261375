-- one wide row per run in analytics.runs_wide
-- implied by: model_lab_runs__unique_key
-- (the run attributes, one row per run once model_lab_runs' key is unique, left-joined by
-- run_id to three pivots grouped by run_id.)
with runs_wide as (

    select * from analytics.runs_wide

),

duplicates as (

    select run_id, count(*) as n_rows
    from runs_wide
    group by run_id
    having count(*) > 1

)

select * from duplicates
