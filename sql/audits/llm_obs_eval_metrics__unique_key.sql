-- each evaluation metric appears once per experiment in analytics.llm_obs_eval_metrics
with llm_obs_eval_metrics as (

    select * from analytics.llm_obs_eval_metrics

),

duplicates as (

    select experiment_id, metric_id, count(*) as n_rows
    from llm_obs_eval_metrics
    where metric_id is not null
    group by experiment_id, metric_id
    having count(*) > 1

)

select * from duplicates
