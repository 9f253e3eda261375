-- one value per run and differing param in analytics.run_param_diff: within each (project,
-- param) every run appears once, so its rows and its distinct runs are as many. (The same
-- check as grouping by project, param and run, but with one group per (project, param): at
-- 1M runs the grouping by run ran out of DuckDB's memory cap.)
-- implied by: model_lab_run_params__unique_key, model_lab_runs__unique_key
-- (the differing (project, param) pairs and the distinct (project, run) pairs are unique by
-- their group by / distinct; each pair of them gets the run's value by a left join on
-- (run_id, key), one row once run_params' (run_id, key) and runs' run_id are unique.)
with run_param_diff as (

    select * from analytics.run_param_diff

),

duplicates as (

    select
        project_id,
        key,
        count(*) - count(distinct run_id) as n_duplicate_rows
    from run_param_diff
    group by project_id, key
    having count(*) > count(distinct run_id)

)

select * from duplicates
