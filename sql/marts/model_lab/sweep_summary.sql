-- per sweep parent (a run with children, neither deleted): how many children it has and, for
-- each metric, its best child among the eligible ones (completed, metric present; ties go to
-- the lower run id), that value, the worst value and the spread between them. Direct children
-- only. A parent whose children report no eligible metric has one row with metric NULL.
with runs as (

    select * from analytics.model_lab_runs

),

run_comparison as (

    select * from analytics.run_comparison

),

children as (

    select
        parent_run_id,
        count(*) as n_children

    from runs

    where parent_run_id is not null and not is_deleted

    group by parent_run_id

),

parents as (

    select
        runs.project_id,
        runs.run_id as parent_run_id,
        runs.name as parent_name,
        children.n_children

    from children

    inner join runs
        on children.parent_run_id = runs.run_id

    where not runs.is_deleted

),

child_values as (

    select
        runs.parent_run_id,
        run_comparison.metric,
        run_comparison.direction,
        run_comparison.run_id,
        run_comparison.latest,
        -- best first whatever the direction, then the lower run id
        row_number() over (
            partition by runs.parent_run_id, run_comparison.metric
            order by
                case run_comparison.direction
                    when 'min' then run_comparison.latest
                    else -run_comparison.latest
                end,
                run_comparison.run_id
        ) as best_first

    from run_comparison

    inner join runs
        on run_comparison.run_id = runs.run_id

    where runs.parent_run_id is not null and run_comparison.is_eligible

),

child_metrics as (

    select
        parent_run_id,
        metric,
        min(direction) as direction,  -- one direction per metric
        count(*) as n_children_with_metric,
        min(case when best_first = 1 then run_id end) as best_run_id,
        min(latest) as lowest,
        max(latest) as highest

    from child_values

    group by parent_run_id, metric

),

summary as (

    select
        parents.project_id,
        parents.parent_run_id,
        parents.parent_name,
        parents.n_children,
        child_metrics.metric,
        child_metrics.direction,
        child_metrics.n_children_with_metric,
        child_metrics.best_run_id,
        best_runs.name as best_run_name,
        case child_metrics.direction
            when 'min' then child_metrics.lowest
            else child_metrics.highest
        end as best_value,
        case child_metrics.direction
            when 'min' then child_metrics.highest
            else child_metrics.lowest
        end as worst_value,
        child_metrics.highest - child_metrics.lowest as spread

    from parents

    left join child_metrics
        on parents.parent_run_id = child_metrics.parent_run_id

    left join runs as best_runs
        on child_metrics.best_run_id = best_runs.run_id

)

select * from summary
