with project_tags as (

    select * from staging.stg_model_lab__project_tags

),

final as (

    select
        project_id,
        key,
        value

    from project_tags

)

select * from final
