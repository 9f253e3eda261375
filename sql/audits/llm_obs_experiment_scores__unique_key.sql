-- each key appears once in analytics.llm_obs_experiment_scores
with llm_obs_experiment_scores as (

    select * from analytics.llm_obs_experiment_scores

),

duplicates as (

    select experiment_id, label, count(*) as n_rows
    from llm_obs_experiment_scores
    group by experiment_id, label
    having count(*) > 1

)

select * from duplicates
