with source as (

    select * from raw_posthog.evaluations

),

renamed as (

    select
        ----------  ids
        evaluation_id,

        ----------  strings
        name,
        description,
        status,
        status_reason,
        evaluation_type,
        output_type,
        target,

        ----------  json
        cast(evaluation_config as json) as evaluation_config,
        cast(output_config as json) as output_config,
        cast(conditions as json) as conditions,
        cast(model_configuration as json) as model_configuration,
        cast(target_config as json) as target_config,
        cast(created_by as json) as created_by,

        ----------  booleans
        enabled,
        coalesce(deleted, false) as is_soft_deleted,

        ----------  timestamps
        created_at,
        coalesce(updated_at, created_at) as updated_at,
        _synced_at as synced_at

    from source

)

select * from renamed
