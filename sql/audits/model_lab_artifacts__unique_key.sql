-- each path appears once per project in analytics.model_lab_artifacts
with artifacts as (

    select * from analytics.model_lab_artifacts

),

duplicates as (

    select project_id, path, count(*) as n_rows
    from artifacts
    group by project_id, path
    having count(*) > 1

)

select * from duplicates
