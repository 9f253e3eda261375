-- one summary per sweep parent and metric in analytics.sweep_summary
with sweep_summary as (

    select * from analytics.sweep_summary

),

duplicates as (

    select parent_run_id, metric, count(*) as n_rows
    from sweep_summary
    group by parent_run_id, metric
    having count(*) > 1

)

select * from duplicates
