-- ids that vanished from the API (found by `labsync sync --reconcile`, or datasets that
-- dataset items point at and the API no longer serves)
with source as (

    select * from raw_posthog.tombstones

),

renamed as (

    select
        entity,
        id,
        detected_at

    from source

)

select * from renamed
