-- each key appears once in analytics.posthog_datasets
with posthog_datasets as (

    select * from analytics.posthog_datasets

),

duplicates as (

    select dataset_id, count(*) as n_rows
    from posthog_datasets
    group by dataset_id
    having count(*) > 1

)

select * from duplicates
