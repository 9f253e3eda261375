-- each key appears once in analytics.llm_obs_annotations
with llm_obs_annotations as (

    select * from analytics.llm_obs_annotations

),

duplicates as (

    select queue_id, annotation_id, label, count(*) as n_rows
    from llm_obs_annotations
    group by queue_id, annotation_id, label
    having count(*) > 1

)

select * from duplicates
