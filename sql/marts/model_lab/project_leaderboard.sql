-- per project: each eligible run's mean win rate over the project's metrics (HELM-style). In a
-- metric, a run's win rate is the share of the other eligible runs it beats, ties counting
-- half. Metrics with fewer than two eligible runs are skipped; a metric a run lacks is left
-- out of its mean instead of counting as a loss (compare n_metrics with n_project_metrics).
with leaderboard as (

    select * from analytics.leaderboard

),

compared as materialized (

    select project_id, metric, run_id, run_name, win_rate
    from leaderboard
    where n_runs >= 2

),

per_run as (

    select
        project_id,
        run_id,
        min(run_name) as run_name,  -- one name per run
        avg(win_rate) as mean_win_rate,
        count(*) as n_metrics

    from compared

    group by project_id, run_id

),

per_project as (

    select
        project_id,
        count(distinct metric) as n_project_metrics

    from compared

    group by project_id

),

ranked as (

    select
        per_run.project_id,
        -- rounded so that equal means summed in another order still tie
        rank() over (
            partition by per_run.project_id order by round(per_run.mean_win_rate, 9) desc
        ) as rank,
        per_run.run_id,
        per_run.run_name,
        per_run.mean_win_rate,
        per_run.n_metrics,
        per_project.n_project_metrics

    from per_run

    inner join per_project
        on per_run.project_id = per_project.project_id

)

select * from ranked
