-- PostHog's part of analytics.llm_datasets: live datasets, their live item count, and the
-- last change to the dataset or any of its items (PostHog's own dataset `updated_at` does not
-- move when items change). PostHog datasets cannot be locked.
with datasets as (

    select * from analytics.posthog_datasets
    where not is_deleted

),

items as (

    select
        dataset_id,
        count(*) as item_count,
        max(updated_at) as items_updated_at

    from analytics.posthog_dataset_items
    where not is_deleted
    group by dataset_id

),

final as (

    select
        'posthog' as vendor,
        datasets.dataset_id,
        datasets.name,
        coalesce(items.item_count, 0) as item_count,
        greatest(datasets.updated_at, items.items_updated_at) as updated_at,
        cast(null as varchar) as locked_by

    from datasets

    left join items
        on datasets.dataset_id = items.dataset_id

)

select * from final
