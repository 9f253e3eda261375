-- every item's dataset is in analytics.posthog_datasets, or known to be gone from the API
with items as (

    select * from analytics.posthog_dataset_items

),

datasets as (

    select dataset_id from analytics.posthog_datasets

),

gone_datasets as (

    select id as dataset_id
    from staging.stg_posthog__tombstones
    where entity = 'posthog_dataset'

),

orphans as (

    select items.item_id, items.dataset_id
    from items
    where items.dataset_id not in (select dataset_id from datasets)
        and items.dataset_id not in (select dataset_id from gone_datasets)

)

select * from orphans
