-- analytics.project_leaderboard rows that contradict themselves: a mean win rate outside
-- [0, 1], more metrics than the project has, or ranks that skip or disagree with the win rates
with project_leaderboard as (

    select * from analytics.project_leaderboard

),

checked as (

    select
        *,
        rank() over by_rank as expected_rank,
        lag(rank) over by_rank as previous_rank,
        lag(mean_win_rate) over by_rank as previous_win_rate

    from project_leaderboard

    window by_rank as (partition by project_id order by rank)

),

broken as (

    select *
    from checked
    where mean_win_rate is null or mean_win_rate < 0 or mean_win_rate > 1
        or n_metrics < 1 or n_metrics > n_project_metrics
        or rank <> expected_rank
        or (rank > previous_rank and mean_win_rate >= previous_win_rate + 1e-9)

)

select * from broken
