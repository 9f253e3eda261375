-- a locked dataset names its holder and since when; an unlocked one names nobody
with datasets as (

    select * from analytics.llm_obs_datasets

),

contradictions as (

    select dataset_id, is_draft_locked, draft_locked_by_id, drafting_since
    from datasets
    where (is_draft_locked and (draft_locked_by_id is null or drafting_since is null))
        or (not is_draft_locked and draft_locked_by_id is not null)

)

select * from contradictions
