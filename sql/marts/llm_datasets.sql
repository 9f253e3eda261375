-- Evaluation datasets across vendors. Each vendor contributes its own part; a warehouse
-- without a vendor's source builds this over the vendors it has.
with llm_obs as (

    select * from analytics.llm_obs_llm_datasets

),

posthog as (

    select * from analytics.posthog_llm_datasets

),

final as (

    select vendor, dataset_id, name, item_count, updated_at, locked_by from llm_obs
    union all
    select vendor, dataset_id, name, item_count, updated_at, locked_by from posthog

)

select * from final
