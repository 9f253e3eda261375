-- every record belongs to a dataset the warehouse knows
with records as (

    select * from analytics.llm_obs_dataset_records

),

datasets as (

    select * from analytics.llm_obs_datasets

),

orphans as (

    select records.dataset_id, records.record_id
    from records
    left join datasets
        on records.dataset_id = datasets.dataset_id
    where datasets.dataset_id is null

)

select * from orphans
