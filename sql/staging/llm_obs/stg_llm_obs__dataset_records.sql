with source as (

    select * from raw_llm_obs.dataset_records

),

renamed as (

    select
        ----------  ids
        record_id,
        dataset_id,
        project_id,

        ----------  json
        input::json as input,
        expected_output::json as expected_output,
        metadata::json as metadata,

        ----------  timestamps
        created_at,
        updated_at,
        _read_at as read_at

    from source

)

select * from renamed
