-- each key appears once in analytics.llm_obs_annotation_queues
with llm_obs_annotation_queues as (

    select * from analytics.llm_obs_annotation_queues

),

duplicates as (

    select queue_id, count(*) as n_rows
    from llm_obs_annotation_queues
    group by queue_id
    having count(*) > 1

)

select * from duplicates
