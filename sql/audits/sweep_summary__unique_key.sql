-- one summary per sweep parent and metric in analytics.sweep_summary
-- implied by: model_lab_runs__unique_key
-- (parents: children grouped by parent_run_id, joined to their run by run_id; left-joined
-- by parent_run_id to child metrics grouped by (parent_run_id, metric), then to the best
-- child's run by run_id: one row per (parent_run_id, metric) once runs' run_id is unique.)
with sweep_summary as (

    select * from analytics.sweep_summary

),

duplicates as (

    select parent_run_id, metric, count(*) as n_rows
    from sweep_summary
    group by parent_run_id, metric
    having count(*) > 1

)

select * from duplicates
