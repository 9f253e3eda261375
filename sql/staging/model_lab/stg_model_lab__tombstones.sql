-- ids that vanished from the API, found by `labsync sync --reconcile`
with source as (

    select * from raw_model_lab.tombstones

),

renamed as (

    select
        entity,
        id,
        detected_at

    from source

)

select * from renamed
