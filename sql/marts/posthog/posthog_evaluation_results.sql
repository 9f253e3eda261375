-- One row per evaluation run (`$ai_evaluation` event). `applicable` is false when the
-- evaluation said "not applicable" (or gave no verdict); `result` is NULL then.
with results as (

    select * from staging.stg_posthog__evaluation_results

),

judged as (

    select
        *,
        coalesce(applicable_value, result_value is not null) as applicable

    from results

),

final as (

    select
        event_id,
        evaluation_id,
        evaluated_at,
        case when applicable then result_value end as result,
        applicable,
        reasoning,
        target_event_id,
        trace_id,
        model,
        provider,
        runtime,
        evaluation_name,
        evaluation_mode,
        allows_na,
        result_type,
        target_event_type,
        input_tokens,
        output_tokens,
        started_at,
        ingested_at,
        properties,
        synced_at

    from judged

)

select * from final
