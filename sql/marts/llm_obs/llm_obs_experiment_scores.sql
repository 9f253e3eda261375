-- per experiment and evaluation label: span-level evaluations summarised, beside the
-- experiment-level summary metric of the same label when there is one
with metrics as (

    select * from analytics.llm_obs_eval_metrics

),

experiments as (

    select experiment_id, project_id, name, is_deleted
    from analytics.llm_obs_experiments

),

per_span as (

    select
        experiment_id,
        label,
        mode(metric_type) as metric_type,
        count(*) as n,
        count(score_value) as n_scored,
        avg(score_value) as mean_score,
        min(score_value) as min_score,
        max(score_value) as max_score,
        stddev_samp(score_value) as stddev_score,
        count(*) filter (where assessment = 'pass') as n_pass,
        count(*) filter (where assessment = 'fail') as n_fail,
        avg(boolean_value::int) as true_rate

    from metrics
    where not is_summary
    group by experiment_id, label

),

summaries as (

    select
        experiment_id,
        label,
        mode(metric_type) as metric_type,
        avg(score_value) as summary_score,
        -- the lowest when several disagree (deterministic on every engine)
        min(categorical_value) as summary_categorical_value,
        bool_or(boolean_value) as summary_boolean_value

    from metrics
    where is_summary
    group by experiment_id, label

),

scores as (

    select
        coalesce(per_span.experiment_id, summaries.experiment_id) as experiment_id,
        experiments.project_id,
        experiments.name as experiment_name,
        coalesce(per_span.label, summaries.label) as label,
        coalesce(per_span.metric_type, summaries.metric_type) as metric_type,
        coalesce(per_span.n, 0) as n,
        coalesce(per_span.n_scored, 0) as n_scored,
        per_span.mean_score,
        per_span.min_score,
        per_span.max_score,
        per_span.stddev_score,
        coalesce(per_span.n_pass, 0) as n_pass,
        coalesce(per_span.n_fail, 0) as n_fail,
        per_span.n_pass / nullif(per_span.n_pass + per_span.n_fail, 0) as pass_rate,
        per_span.true_rate,
        summaries.summary_score,
        summaries.summary_categorical_value,
        summaries.summary_boolean_value,
        coalesce(experiments.is_deleted, false) as experiment_is_deleted

    from per_span

    full outer join summaries
        on per_span.experiment_id = summaries.experiment_id
        and per_span.label = summaries.label

    left join experiments
        on coalesce(per_span.experiment_id, summaries.experiment_id) = experiments.experiment_id

)

select * from scores
