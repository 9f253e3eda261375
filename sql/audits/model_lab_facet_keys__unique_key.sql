-- each facet key appears once per scope in analytics.model_lab_facet_keys
with facet_keys as (

    select * from analytics.model_lab_facet_keys

),

duplicates as (

    select scope, project_id, facet_type, facet_name, count(*) as n_rows
    from facet_keys
    group by scope, project_id, facet_type, facet_name
    having count(*) > 1

)

select * from duplicates
