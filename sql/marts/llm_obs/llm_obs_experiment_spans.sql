-- the spans of each experiment's newest events read
with spans as (

    select * from staging.stg_llm_obs__experiment_spans

),

reads as (

    select parent_id, read_at
    from staging.stg_llm_obs__snapshots
    where collection = 'experiment_events' and next_read_at is null

),

current_spans as (

    select
        spans.experiment_id,
        spans.span_id,
        spans.trace_id,
        spans.parent_id,
        spans.dataset_record_id,
        spans.name,
        spans.status,
        spans.started_at,
        spans.duration_ms,
        spans.input,
        spans.output,
        spans.expected_output,
        spans.error,
        spans.tags,
        spans.metrics,
        spans.read_at as synced_at

    from spans

    inner join reads
        on spans.experiment_id = reads.parent_id
        and spans.read_at = reads.read_at

)

select * from current_spans
