-- each key appears once in analytics.llm_obs_dataset_records
with llm_obs_dataset_records as (

    select * from analytics.llm_obs_dataset_records

),

duplicates as (

    select dataset_id, record_id, count(*) as n_rows
    from llm_obs_dataset_records
    group by dataset_id, record_id
    having count(*) > 1

)

select * from duplicates
