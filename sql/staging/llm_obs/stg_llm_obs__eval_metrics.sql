-- experiment-level summary metrics carry no span
with source as (

    select * from raw_llm_obs.eval_metrics

),

renamed as (

    select
        ----------  ids
        experiment_id,
        metric_id,
        case when is_summary then null else span_id end as span_id,
        trace_id,

        ----------  strings
        label,
        metric_type,
        categorical_value,
        assessment,
        reasoning,
        metric_source,
        eval_source_type,

        ----------  numerics
        _position as position,
        score_value,

        ----------  booleans
        boolean_value,
        is_summary,

        ----------  json
        json_value::json as json_value,
        tags::json as tags,
        metadata::json as metadata,

        ----------  timestamps
        timestamptz '1970-01-01 00:00:00+00'
        + to_milliseconds(timestamp_ms) as evaluated_at,
        _read_at as read_at

    from source

)

select * from renamed
