-- one comparison row per run and metric in analytics.run_comparison
with run_comparison as (

    select * from analytics.run_comparison

),

duplicates as (

    select run_id, metric, count(*) as n_rows
    from run_comparison
    group by run_id, metric
    having count(*) > 1

)

select * from duplicates
