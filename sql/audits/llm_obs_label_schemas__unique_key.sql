-- each key appears once in analytics.llm_obs_label_schemas
with llm_obs_label_schemas as (

    select * from analytics.llm_obs_label_schemas

),

duplicates as (

    select queue_id, name, count(*) as n_rows
    from llm_obs_label_schemas
    group by queue_id, name
    having count(*) > 1

)

select * from duplicates
