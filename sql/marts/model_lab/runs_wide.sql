-- the shape of MLflow's `search_runs()`: one row per run, then one column per metric
-- (`metrics.<key>`, the latest value), param (`params.<key>`) and tag (`tags.<key>`), NULL
-- where a run lacks it. The pivots are dynamic: the model runner pins their column lists at
-- every build, so keys that appear in a sync become columns.
with runs as (

    select * from analytics.model_lab_runs

),

run_metrics as (

    select * from analytics.model_lab_run_metrics

),

run_params as (

    select * from analytics.model_lab_run_params

),

run_tags as (

    select * from analytics.model_lab_run_tags

),

metric_cells as (

    select run_id, 'metrics.' || key as column_name, latest
    from run_metrics

),

param_cells as (

    select run_id, 'params.' || key as column_name, value
    from run_params

),

tag_cells as (

    select run_id, 'tags.' || key as column_name, value
    from run_tags

),

metrics_wide as (

    pivot metric_cells on column_name using first(latest) group by run_id

),

params_wide as (

    pivot param_cells on column_name using first(value) group by run_id

),

tags_wide as (

    pivot tag_cells on column_name using first(value) group by run_id

),

attributes as (

    select
        run_id,
        project_id,
        name as run_name,
        status,
        started_at as start_time,
        -- some completed runs lack completed_at: fall back to start + duration when finished
        coalesce(
            completed_at,
            case
                when status in ('completed', 'failed', 'killed')
                    then started_at + to_microseconds(cast(duration_s * 1e6 as bigint))
            end
        ) as end_time,
        parent_run_id,
        mlflow_artifact_location as artifact_uri,
        is_deleted

    from runs

),

joined as (

    select *
    from attributes
    left join metrics_wide using (run_id)
    left join params_wide using (run_id)
    left join tags_wide using (run_id)

)

select * from joined
