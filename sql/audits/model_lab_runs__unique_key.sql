-- each key appears once in analytics.model_lab_runs
with model_lab_runs as (

    select * from analytics.model_lab_runs

),

duplicates as (

    select run_id, count(*) as n_rows
    from model_lab_runs
    group by run_id
    having count(*) > 1

)

select * from duplicates
