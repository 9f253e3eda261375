-- a run appears once on its project board in analytics.project_leaderboard
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
