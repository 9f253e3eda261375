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

child_metrics as (

    select
        runs.parent_run_id,
        run_comparison.metric,
        any_value(run_comparison.direction) as direction,
        count(*) as n_children_with_metric,
        first(
            run_comparison.run_id
            order by run_comparison.rank_in_project, run_comparison.run_id
        ) as best_run_id,
        first(
            run_comparison.run_name
            order by run_comparison.rank_in_project, run_comparison.run_id
        ) as best_run_name,
        first(
            run_comparison.latest
            order by run_comparison.rank_in_project, run_comparison.run_id
        ) as best_value,
        first(
            run_comparison.latest
            order by run_comparison.rank_in_project desc, run_comparison.run_id
        ) as worst_value,
        max(run_comparison.latest) - min(run_comparison.latest) as spread

    from run_comparison

    inner join runs
        on run_comparison.run_id = runs.run_id

    where runs.parent_run_id is not null and run_comparison.is_eligible

    group by runs.parent_run_id, run_comparison.metric

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
        child_metrics.best_run_name,
        child_metrics.best_value,
        child_metrics.worst_value,
        child_metrics.spread

    from parents

    left join child_metrics
        on parents.parent_run_id = child_metrics.parent_run_id

)

select * from summary
