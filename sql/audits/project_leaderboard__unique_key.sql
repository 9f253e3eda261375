-- a run appears once on its project board in analytics.project_leaderboard
-- implied by: the view's own SQL
-- (per_run groups by (project_id, run_id) and per_project by project_id, and they are joined
-- on project_id: one row per (project_id, run_id) whatever the data.)
with project_leaderboard as (

    select * from analytics.project_leaderboard

),

duplicates as (

    select project_id, run_id, count(*) as n_rows
    from project_leaderboard
    group by project_id, run_id
    having count(*) > 1

)

select * from duplicates
