with source as (

    select * from raw_posthog.datasets

),

renamed as (

    select
        ----------  ids
        dataset_id,
        team as team_id,

        ----------  strings
        name,
        description,

        ----------  json
        cast(metadata as json) as metadata,
        cast(created_by as json) as created_by,

        ----------  booleans
        coalesce(deleted, false) as is_soft_deleted,

        ----------  timestamps
        created_at,
        coalesce(updated_at, created_at) as updated_at,
        _synced_at as synced_at

    from source

)

select * from renamed
