-- each key appears once in analytics.posthog_evaluations
with posthog_evaluations as (

    select * from analytics.posthog_evaluations

),

duplicates as (

    select evaluation_id, count(*) as n_rows
    from posthog_evaluations
    group by evaluation_id
    having count(*) > 1

)

select * from duplicates
