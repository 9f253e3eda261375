-- a run is ranked once per project metric in analytics.leaderboard
-- implied by: model_lab_run_metrics__unique_key, model_lab_runs__unique_key, metric_directions__unique_key
-- (the leaderboard filters run_comparison, one row per (run_id, metric) once those keys are
-- unique, and a run has one project: see run_comparison__unique_key.)
with leaderboard as (

    select * from analytics.leaderboard

),

duplicates as (

    select project_id, metric, run_id, count(*) as n_rows
    from leaderboard
    group by project_id, metric, run_id
    having count(*) > 1

)

select * from duplicates
