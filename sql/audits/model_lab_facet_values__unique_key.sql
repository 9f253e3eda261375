-- each listed facet value appears once per scope in analytics.model_lab_facet_values
with model_lab_facet_values as (

    select * from analytics.model_lab_facet_values

),

duplicates as (

    select scope, project_id, facet_type, facet_name, value, count(*) as n_rows
    from model_lab_facet_values
    group by scope, project_id, facet_type, facet_name, value
    having count(*) > 1

)

select * from duplicates
