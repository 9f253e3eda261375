-- each key appears once in analytics.llm_obs_dataset_versions
with llm_obs_dataset_versions as (

    select * from analytics.llm_obs_dataset_versions

),

duplicates as (

    select dataset_id, version_id, count(*) as n_rows
    from llm_obs_dataset_versions
    group by dataset_id, version_id
    having count(*) > 1

)

select * from duplicates
