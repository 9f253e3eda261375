-- each key appears once in analytics.model_lab_run_metrics
with model_lab_run_metrics as (

    select * from analytics.model_lab_run_metrics

),

duplicates as (

    select run_id, key, count(*) as n_rows
    from model_lab_run_metrics
    group by run_id, key
    having count(*) > 1

)

select * from duplicates
