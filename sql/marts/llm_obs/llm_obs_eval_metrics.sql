-- evaluations of each experiment's newest events read: per span, and experiment-level
-- summary metrics (`span_id` NULL)
with metrics as (

    select * from staging.stg_llm_obs__eval_metrics

),

reads as (

    select parent_id, read_at
    from staging.stg_llm_obs__snapshots
    where collection = 'experiment_events' and next_read_at is null

),

current_metrics as (

    select
        metrics.experiment_id,
        metrics.span_id,
        metrics.metric_id,
        metrics.trace_id,
        metrics.label,
        metrics.metric_type,
        metrics.score_value,
        metrics.categorical_value,
        metrics.boolean_value,
        metrics.json_value,
        metrics.assessment,
        metrics.reasoning,
        metrics.metric_source,
        metrics.eval_source_type,
        metrics.evaluated_at,
        metrics.is_summary,
        metrics.tags,
        metrics.metadata

    from metrics

    inner join reads
        on metrics.experiment_id = reads.parent_id
        and metrics.read_at = reads.read_at

)

select * from current_metrics
