-- every span belongs to an experiment the warehouse knows
with spans as (

    select * from analytics.llm_obs_experiment_spans

),

experiments as (

    select * from analytics.llm_obs_experiments

),

orphans as (

    select spans.experiment_id, spans.span_id
    from spans
    left join experiments
        on spans.experiment_id = experiments.experiment_id
    where experiments.experiment_id is null

)

select * from orphans
