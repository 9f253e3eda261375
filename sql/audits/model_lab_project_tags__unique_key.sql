-- each key appears once in analytics.model_lab_project_tags
with model_lab_project_tags as (

    select * from analytics.model_lab_project_tags

),

duplicates as (

    select project_id, key, count(*) as n_rows
    from model_lab_project_tags
    group by project_id, key
    having count(*) > 1

)

select * from duplicates
