-- each key appears once in analytics.llm_obs_projects
with llm_obs_projects as (

    select * from analytics.llm_obs_projects

),

duplicates as (

    select project_id, count(*) as n_rows
    from llm_obs_projects
    group by project_id
    having count(*) > 1

)

select * from duplicates
