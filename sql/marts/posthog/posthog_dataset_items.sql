-- Items of PostHog datasets. `is_deleted` is true when the item vanished from the API or its
-- dataset is deleted (the API keeps listing items of deleted datasets).
with items as (

    select * from staging.stg_posthog__dataset_items

),

datasets as (

    select dataset_id, is_deleted from analytics.posthog_datasets

),

tombstones as (

    select entity, id, detected_at from staging.stg_posthog__tombstones

),

vanished as (

    select
        items.*,
        coalesce(item_tombstones.detected_at > items.synced_at, false) as is_vanished,
        item_tombstones.detected_at,
        -- a dataset the warehouse never had: deleted when the API said it is gone
        coalesce(datasets.is_deleted, dataset_tombstones.id is not null) as dataset_is_deleted

    from items

    left join tombstones as item_tombstones
        on item_tombstones.entity = 'posthog_dataset_item'
        and items.item_id = item_tombstones.id

    left join datasets
        on items.dataset_id = datasets.dataset_id

    left join tombstones as dataset_tombstones
        on dataset_tombstones.entity = 'posthog_dataset'
        and items.dataset_id = dataset_tombstones.id

),

final as (

    select
        item_id,
        dataset_id,
        input,
        output,
        metadata,
        ref_trace_id,
        ref_timestamp,
        ref_source_id,
        created_by,
        team_id,
        created_at,
        updated_at,
        dataset_is_deleted,
        is_soft_deleted or is_vanished or dataset_is_deleted as is_deleted,
        case when is_vanished then detected_at end as vanished_detected_at,
        synced_at

    from vanished

)

select * from final
