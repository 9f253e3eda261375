-- a tag row is current only if it came with the project version in the warehouse
with source as (

    select * from raw_model_lab.project_tags

),

projects as (

    select project_id, _synced_at from raw_model_lab.projects

),

current_tags as (

    select
        source.project_id,
        source._position as position,
        source.key,
        source.value

    from source

    inner join projects
        on source.project_id = projects.project_id
        and source._synced_at = projects._synced_at

)

select * from current_tags
