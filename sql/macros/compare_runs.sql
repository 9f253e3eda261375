-- analytics.compare_runs(baseline_run_id): every other run (not deleted) of the baseline's
-- project, per metric either of them reports: its latest value, the baseline's, the delta
-- (value - baseline), the relative change (delta / |baseline|, NULL for a zero baseline) and
-- whether it is better by the metric's direction (NULL when either value is missing; equal is
-- not better). The runner turns `$baseline_run_id` into the macro's parameter.
with runs as (

    select * from analytics.model_lab_runs

),

run_metrics as (

    select * from analytics.model_lab_run_metrics

),

metric_directions as (

    select * from analytics.metric_directions

),

baseline as (

    select run_id, project_id
    from runs
    where run_id = $baseline_run_id

),

baseline_metrics as (

    select run_metrics.key, run_metrics.latest
    from run_metrics
    inner join baseline
        on run_metrics.run_id = baseline.run_id

),

others as (

    select runs.run_id, runs.name as run_name, runs.status
    from runs
    inner join baseline
        on runs.project_id = baseline.project_id
    where runs.run_id <> baseline.run_id and not runs.is_deleted

),

other_metrics as (

    select run_metrics.run_id, run_metrics.key, run_metrics.latest
    from run_metrics
    inner join others
        on run_metrics.run_id = others.run_id

),

pairs as (

    select others.run_id, baseline_metrics.key
    from others
    cross join baseline_metrics
    union
    select run_id, key
    from other_metrics

),

compared as (

    select
        cast($baseline_run_id as bigint) as baseline_run_id,
        others.run_id,
        others.run_name,
        others.status,
        pairs.key as metric,
        metric_directions.direction,
        other_metrics.latest as value,
        baseline_metrics.latest as baseline_value,
        other_metrics.latest - baseline_metrics.latest as delta,
        (other_metrics.latest - baseline_metrics.latest)
        / nullif(abs(baseline_metrics.latest), 0) as relative_change,
        case metric_directions.direction
            when 'min' then other_metrics.latest < baseline_metrics.latest
            else other_metrics.latest > baseline_metrics.latest
        end as is_better

    from pairs

    inner join others
        on pairs.run_id = others.run_id

    left join other_metrics
        on pairs.run_id = other_metrics.run_id
        and pairs.key = other_metrics.key

    left join baseline_metrics
        on pairs.key = baseline_metrics.key

    left join metric_directions
        on pairs.key = metric_directions.metric

)

select * from compared
