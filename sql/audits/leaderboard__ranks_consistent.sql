-- leaderboard ranks that skip or contradict the values: within a (project, metric) a run's
-- rank is 1 + the number of runs ranked above it (ties share a rank: 1, 1, 3), runs sharing a
-- rank share the value, a lower rank has a strictly better value, n_runs counts the rows and
-- the win rate is in [0, 1]
with leaderboard as (

    select * from analytics.leaderboard

),

neighbours as (

    select
        project_id,
        metric,
        direction,
        run_id,
        rank,
        value,
        n_runs,
        win_rate,
        rank() over by_rank as expected_rank,
        count(*) over (by_rank rows between unbounded preceding and unbounded following)
        as actual_n_runs,
        lag(rank) over by_rank as previous_rank,
        lag(value) over by_rank as previous_value

    from leaderboard

    window by_rank as (partition by project_id, metric order by rank)

),

broken as (

    select *
    from neighbours
    where rank is distinct from expected_rank
        or n_runs <> actual_n_runs
        or value is null
        or win_rate < 0 or win_rate > 1
        or (rank = previous_rank and value <> previous_value)
        or (
            rank > previous_rank
            and case direction
                when 'min' then value <= previous_value
                else value >= previous_value
            end
        )

)

select * from broken
