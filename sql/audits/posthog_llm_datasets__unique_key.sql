-- each PostHog dataset appears once in analytics.posthog_llm_datasets
with posthog_llm_datasets as (

    select * from analytics.posthog_llm_datasets

),

duplicates as (

    select dataset_id, count(*) as n_rows
    from posthog_llm_datasets
    group by dataset_id
    having count(*) > 1

)

select * from duplicates
