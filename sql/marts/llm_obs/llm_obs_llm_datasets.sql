-- this vendor's part of analytics.llm_datasets: live datasets, their current record count
-- and who holds the draft lock (NULL when unlocked)
with datasets as (

    select * from analytics.llm_obs_datasets

),

listed as (

    select
        'datadog_llm_obs' as vendor,
        dataset_id,
        name,
        record_count::bigint as item_count,
        updated_at,
        case
            when is_draft_locked then coalesce(draft_locked_by_email, draft_locked_by_id)
        end as locked_by

    from datasets
    where not is_deleted

)

select * from listed
