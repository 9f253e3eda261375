with source as (

    select * from raw_labsync.sync_runs

),

renamed as (

    select
        sync_id,
        started_at,
        finished_at,
        status,
        source,
        resource,
        rows_loaded,
        requests,
        retries,
        throttled,
        cursor,
        error

    from source

)

select * from renamed
