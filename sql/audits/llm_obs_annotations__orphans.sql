-- every annotation belongs to an interaction of a queue the warehouse knows
with annotations as (

    select * from analytics.llm_obs_annotations

),

interactions as (

    select * from analytics.llm_obs_annotation_interactions

),

queues as (

    select * from analytics.llm_obs_annotation_queues

),

orphans as (

    select annotations.queue_id, annotations.annotation_id
    from annotations
    left join interactions
        on annotations.queue_id = interactions.queue_id
        and annotations.interaction_id = interactions.interaction_id
    left join queues
        on annotations.queue_id = queues.queue_id
    where interactions.interaction_id is null
        or queues.queue_id is null

)

select * from orphans
