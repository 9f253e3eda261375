-- metric summaries that contradict themselves
with run_metrics as (

    select * from analytics.model_lab_run_metrics

),

contradictions as (

    select *
    from run_metrics
    where min > max
        or mean < min or mean > max
        or latest < min or latest > max
        or first_step > last_step
        or count < 0

)

select * from contradictions
