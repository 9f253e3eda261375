with source as (

    select * from raw_model_lab.run_parents

),

renamed as (

    select
        run_id,
        parent_run_id,
        _synced_at as discovered_at

    from source

)

select * from renamed
