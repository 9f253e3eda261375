-- every span-level evaluation belongs to a span of its experiment's newest events read
with metrics as (

    select * from analytics.llm_obs_eval_metrics

),

spans as (

    select * from analytics.llm_obs_experiment_spans

),

orphans as (

    select metrics.experiment_id, metrics.span_id, metrics.label
    from metrics
    left join spans
        on metrics.experiment_id = spans.experiment_id
        and metrics.span_id = spans.span_id
    where metrics.span_id is not null
        and spans.span_id is null

)

select * from orphans
