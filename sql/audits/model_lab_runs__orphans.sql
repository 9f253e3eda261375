-- runs whose project or parent run is missing from the warehouse (a project created while a
-- sync was listing can show up here once; the next sync brings it)
with model_lab_runs as (

    select * from analytics.model_lab_runs

),

model_lab_projects as (

    select * from analytics.model_lab_projects

),

orphans as (

    select
        model_lab_runs.run_id,
        model_lab_runs.project_id,
        model_lab_runs.parent_run_id,
        case
            when model_lab_projects.project_id is null then 'project missing'
            else 'parent run missing'
        end as problem

    from model_lab_runs

    left join model_lab_projects
        on model_lab_runs.project_id = model_lab_projects.project_id

    left join model_lab_runs as parents
        on model_lab_runs.parent_run_id = parents.run_id

    where model_lab_projects.project_id is null
        or (model_lab_runs.parent_run_id is not null and parents.run_id is null)

)

select * from orphans
