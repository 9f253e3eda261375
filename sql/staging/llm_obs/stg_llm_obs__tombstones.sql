-- ids that vanished from a complete listing (projects, datasets, queues, experiments)
with source as (

    select * from raw_llm_obs.tombstones

),

renamed as (

    select
        entity,
        id,
        detected_at

    from source

)

select * from renamed
