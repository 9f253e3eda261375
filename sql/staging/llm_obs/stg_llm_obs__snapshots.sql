-- Complete reads of a parent's child collection. A child row keeps the `read_at` of the
-- read that last returned it: when a later read of its parent exists (`next_read_at`),
-- the row was missing from it and has vanished from the API since.
with source as (

    select * from raw_llm_obs.snapshots

),

sequenced as (

    select
        collection,
        parent_id,
        read_at,
        item_count,
        detail,
        lead(read_at) over (
            partition by collection, parent_id order by read_at
        ) as next_read_at

    from source

)

select * from sequenced
