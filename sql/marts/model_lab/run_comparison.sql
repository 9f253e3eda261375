-- one row per (run, metric) of every run not deleted: its summary, the best value it reached,
-- and how its latest value stands against the project's best. A run is eligible for the
-- project best, the rank and the win rate when it is `completed` and its latest value is a
-- number; n_ranked_runs counts the project's eligible runs for the metric.
with runs as (

    select * from analytics.model_lab_runs

),

run_metrics as (

    select * from analytics.model_lab_run_metrics

),

metric_directions as (

    select * from analytics.metric_directions

),

measured as (

    select
        runs.project_id,
        runs.run_id,
        runs.name as run_name,
        runs.status,
        run_metrics.key as metric,
        metric_directions.direction,
        run_metrics.latest,
        run_metrics.min,
        run_metrics.max,
        run_metrics.mean,
        case metric_directions.direction
            when 'min' then run_metrics.min
            else run_metrics.max
        end as best_in_run,
        coalesce(runs.status = 'completed' and not isnan(run_metrics.latest), false) as is_eligible,
        -- ascending order of this is best-first whatever the direction
        case metric_directions.direction
            when 'min' then run_metrics.latest
            else -run_metrics.latest
        end as sort_value

    from run_metrics

    inner join runs
        on run_metrics.run_id = runs.run_id

    inner join metric_directions
        on run_metrics.key = metric_directions.metric

    where not runs.is_deleted

),

ranked as (

    select
        *,
        -- eligible runs first, best value first
        rank() over best_first as rank_among_eligible,
        first_value(case when is_eligible then sort_value end) over best_first as best_sort_value,
        sum(case when is_eligible then 1 else 0 end) over (
            partition by project_id, metric
        ) as n_ranked_runs,
        -- the run itself and the runs tied with it (its peers in best_first)
        count(*) over (partition by project_id, metric, is_eligible, sort_value) as n_peers

    from measured

    window best_first as (partition by project_id, metric order by is_eligible desc, sort_value)

),

final as (

    select
        project_id,
        run_id,
        run_name,
        status,
        metric,
        direction,
        latest,
        min,
        max,
        mean,
        best_in_run,
        case direction when 'min' then best_sort_value else -best_sort_value end as project_best,
        latest - (
            case direction when 'min' then best_sort_value else -best_sort_value end
        ) as delta_vs_best,
        case when is_eligible then rank_among_eligible end as rank_in_project,
        -- share of the other eligible runs it beats in this metric, ties counting half
        case
            when is_eligible and n_ranked_runs >= 2
                then (n_ranked_runs - rank_among_eligible - 0.5 * (n_peers - 1))
                / (n_ranked_runs - 1)
        end as win_rate,
        n_ranked_runs,
        is_eligible

    from ranked

)

select * from final
