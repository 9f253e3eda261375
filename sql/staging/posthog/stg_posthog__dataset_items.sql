with source as (

    select * from raw_posthog.dataset_items

),

renamed as (

    select
        ----------  ids
        item_id,
        dataset_id,
        team as team_id,
        ref_trace_id,
        ref_source_id,

        ----------  json
        cast(input as json) as input,
        cast(output as json) as output,
        cast(metadata as json) as metadata,
        cast(created_by as json) as created_by,

        ----------  booleans
        coalesce(deleted, false) as is_soft_deleted,

        ----------  timestamps
        ref_timestamp,
        created_at,
        coalesce(updated_at, created_at) as updated_at,
        _synced_at as synced_at

    from source

)

select * from renamed
