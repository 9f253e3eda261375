-- each key appears once in analytics.llm_obs_experiment_spans
with llm_obs_experiment_spans as (

    select * from analytics.llm_obs_experiment_spans

),

duplicates as (

    select experiment_id, span_id, count(*) as n_rows
    from llm_obs_experiment_spans
    group by experiment_id, span_id
    having count(*) > 1

)

select * from duplicates
