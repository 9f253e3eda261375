with source as (

    select * from raw_llm_obs.dataset_versions

),

renamed as (

    select
        ----------  ids
        dataset_id,
        version_id,

        ----------  numerics
        version_number,

        ----------  timestamps
        last_used,
        _read_at as read_at

    from source

)

select * from renamed
