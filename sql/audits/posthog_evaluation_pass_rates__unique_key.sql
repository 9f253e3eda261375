-- one pass rate per evaluation and day in analytics.posthog_evaluation_pass_rates
with posthog_evaluation_pass_rates as (

    select * from analytics.posthog_evaluation_pass_rates

),

duplicates as (

    select evaluation_id, day, count(*) as n_rows
    from posthog_evaluation_pass_rates
    group by evaluation_id, day
    having count(*) > 1

)

select * from duplicates
