-- one value per run and differing param in analytics.run_param_diff
with run_param_diff as (

    select * from analytics.run_param_diff

),

duplicates as (

    select project_id, key, run_id, count(*) as n_rows
    from run_param_diff
    group by project_id, key, run_id
    having count(*) > 1

)

select * from duplicates
