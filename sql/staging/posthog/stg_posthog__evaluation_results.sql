-- one row per `$ai_evaluation` event; `properties` keeps everything the event carried
with source as (

    select * from raw_posthog.evaluation_results

),

renamed as (

    select
        ----------  ids
        event_id,
        evaluation_id,
        target_event_id,
        trace_id,

        ----------  strings
        evaluation_name,
        evaluation_mode,
        runtime,
        result_type,
        target_event_type,
        reasoning,
        model,
        provider,

        ----------  numerics
        input_tokens,
        output_tokens,

        ----------  booleans
        result as result_value,
        applicable as applicable_value,
        allows_na,

        ----------  json
        cast(properties as json) as properties,

        ----------  timestamps
        "timestamp" as evaluated_at,
        started_at,
        created_at as ingested_at,
        _synced_at as synced_at

    from source

)

select * from renamed
