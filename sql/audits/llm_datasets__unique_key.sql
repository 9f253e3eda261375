-- each vendor dataset appears once in analytics.llm_datasets
with llm_datasets as (

    select * from analytics.llm_datasets

),

duplicates as (

    select vendor, dataset_id, count(*) as n_rows
    from llm_datasets
    group by vendor, dataset_id
    having count(*) > 1

)

select * from duplicates
