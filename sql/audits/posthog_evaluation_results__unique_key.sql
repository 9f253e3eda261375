-- each key appears once in analytics.posthog_evaluation_results
with posthog_evaluation_results as (

    select * from analytics.posthog_evaluation_results

),

duplicates as (

    select event_id, count(*) as n_rows
    from posthog_evaluation_results
    group by event_id
    having count(*) > 1

)

select * from duplicates
