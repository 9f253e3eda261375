-- each key appears once in analytics.posthog_dataset_items
with posthog_dataset_items as (

    select * from analytics.posthog_dataset_items

),

duplicates as (

    select item_id, count(*) as n_rows
    from posthog_dataset_items
    group by item_id
    having count(*) > 1

)

select * from duplicates
