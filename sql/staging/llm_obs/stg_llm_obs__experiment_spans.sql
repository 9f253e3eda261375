-- start and duration arrive in nanoseconds; timestamps keep microseconds
with source as (

    select * from raw_llm_obs.experiment_spans

),

renamed as (

    select
        ----------  ids
        experiment_id,
        span_id,
        event_id,
        trace_id,
        parent_id,
        dataset_record_id,

        ----------  strings
        name,
        status,

        ----------  numerics
        _position as position,
        start_ns,
        duration as duration_ns,
        duration / 1e6 as duration_ms,

        ----------  json
        input::json as input,
        output::json as output,
        expected_output::json as expected_output,
        error::json as error,
        tags::json as tags,
        metrics::json as metrics,

        ----------  timestamps
        timestamptz '1970-01-01 00:00:00+00'
        + to_microseconds(start_ns // 1000) as started_at,
        _read_at as read_at

    from source

)

select * from renamed
