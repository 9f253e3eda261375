-- One row per source resource per sync: the history `labsync status` reads.
with sync_runs as (

    select * from staging.stg_labsync__sync_runs

),

final as (

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
        error,
        cursor

    from sync_runs

)

select * from final
