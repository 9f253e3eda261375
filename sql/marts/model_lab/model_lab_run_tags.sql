with run_tags as (

    select * from staging.stg_model_lab__run_tags

),

final as (

    select
        run_id,
        key,
        value

    from run_tags

)

select * from final
