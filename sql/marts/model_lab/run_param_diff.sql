-- per project, only the params whose values differ between the project's runs, with every
-- compared run's value (NULL where the run lacks the param): the "diff only" view of a run
-- comparison. Compared runs: not deleted and logging at least one param (a sweep parent that
-- logs none would otherwise make every param differ). A param set on some compared runs and
-- missing on others differs; the absence counts as one of its n_distinct values.
with runs as (

    select * from analytics.model_lab_runs

),

run_params as (

    select * from analytics.model_lab_run_params

),

project_params as (

    select
        runs.project_id,
        run_params.run_id,
        run_params.key,
        run_params.value

    from run_params

    inner join runs
        on run_params.run_id = runs.run_id

    where not runs.is_deleted

),

compared_runs as (

    select distinct project_id, run_id
    from project_params

),

runs_per_project as (

    select project_id, count(*) as n_runs
    from compared_runs
    group by project_id

),

key_values as (

    select
        project_id,
        key,
        count(distinct value) as n_values,
        count(*) as n_runs_with_key

    from project_params

    group by project_id, key

),

differing as (

    select
        key_values.project_id,
        key_values.key,
        key_values.n_values
        + case when key_values.n_runs_with_key < runs_per_project.n_runs then 1 else 0 end
        as n_distinct

    from key_values

    inner join runs_per_project
        on key_values.project_id = runs_per_project.project_id

),

diff as (

    select
        differing.project_id,
        differing.key,
        differing.n_distinct,
        compared_runs.run_id,
        project_params.value

    from differing

    inner join compared_runs
        on differing.project_id = compared_runs.project_id

    left join project_params
        on compared_runs.run_id = project_params.run_id
        and differing.key = project_params.key

    where differing.n_distinct > 1

)

select * from diff
