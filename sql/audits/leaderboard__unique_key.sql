-- a run is ranked once per project metric in analytics.leaderboard
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
