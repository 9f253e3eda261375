with source as (

    select * from raw_llm_obs.projects

),

renamed as (

    select
        ----------  ids
        project_id,

        ----------  strings
        name,
        description,

        ----------  timestamps
        created_at,
        updated_at,
        _synced_at as synced_at

    from source

)

select * from renamed
