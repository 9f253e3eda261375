-- leaderboard ranks that skip or contradict the values: within a (project, metric) a run's
-- rank is 1 + the number of runs ranked above it (ties share a rank: 1, 1, 3), runs sharing a
-- rank share the value, a lower rank has a strictly better value, and n_runs counts the rows.
-- (Keys of the marts are unique by construction once the base keys are: those are audited.)
-- implied by: metric_directions__unique_key
-- (the view ranks with rank() over (project, metric) ordered by the latest value in the
-- metric's direction, eligible runs only, whose value is a number: 1 + the runs strictly
-- better, ties sharing a rank and a value, n_runs their count, by SQL's definition of rank().
-- Only two directions for one metric could mix orders in a partition. Reading the view's
-- ranks at 1M runs re-sorts ~8M rows, so the runner skips it there; on a table it runs.)
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
        rank() over by_rank as expected_rank,
        count(*) over (partition by project_id, metric) as actual_n_runs,
        lag(rank) over by_rank as previous_rank,
        lag(value) over by_rank as previous_value

    from leaderboard

    window by_rank as (partition by project_id, metric order by rank)

),

diagnosed as (

    select
        *,
        case
            when rank is distinct from expected_rank then 'rank is not 1 + the runs above it'
            when n_runs <> actual_n_runs then 'n_runs does not count the runs'
            when value is null then 'no value'
            when rank = previous_rank and value <> previous_value
                then 'runs sharing a rank have different values'
            when rank > previous_rank
                and case direction
                    when 'min' then value <= previous_value
                    else value >= previous_value
                end
                then 'a lower rank does not have a better value'
        end as problem

    from neighbours

),

broken as (

    select *
    from diagnosed
    where problem is not null

)

select * from broken
