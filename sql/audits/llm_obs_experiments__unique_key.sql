-- each key appears once in analytics.llm_obs_experiments
with llm_obs_experiments as (

    select * from analytics.llm_obs_experiments

),

duplicates as (

    select experiment_id, count(*) as n_rows
    from llm_obs_experiments
    group by experiment_id
    having count(*) > 1

)

select * from duplicates
