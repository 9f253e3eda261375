-- each key appears once in analytics.model_lab_projects
with model_lab_projects as (

    select * from analytics.model_lab_projects

),

duplicates as (

    select project_id, count(*) as n_rows
    from model_lab_projects
    group by project_id
    having count(*) > 1

)

select * from duplicates
