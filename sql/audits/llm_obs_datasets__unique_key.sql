-- each key appears once in analytics.llm_obs_datasets
with llm_obs_datasets as (

    select * from analytics.llm_obs_datasets

),

duplicates as (

    select dataset_id, count(*) as n_rows
    from llm_obs_datasets
    group by dataset_id
    having count(*) > 1

)

select * from duplicates
