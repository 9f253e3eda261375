-- each key appears once in analytics.llm_obs_annotation_interactions
with llm_obs_annotation_interactions as (

    select * from analytics.llm_obs_annotation_interactions

),

duplicates as (

    select queue_id, interaction_id, count(*) as n_rows
    from llm_obs_annotation_interactions
    group by queue_id, interaction_id
    having count(*) > 1

)

select * from duplicates
