-- one comparison row per run and metric in analytics.run_comparison
-- implied by: model_lab_run_metrics__unique_key, model_lab_runs__unique_key, metric_directions__unique_key
-- (run_comparison joins each (run_id, key) metric row to its run by run_id and its direction
-- by metric, with no other row source: one row per (run_id, metric) once those three keys are
-- unique. The runner then skips this check on the view, which at 1M runs costs seconds.)
with run_comparison as (

    select * from analytics.run_comparison

),

duplicates as (

    select run_id, metric, count(*) as n_rows
    from run_comparison
    group by run_id, metric
    having count(*) > 1

)

select * from duplicates
