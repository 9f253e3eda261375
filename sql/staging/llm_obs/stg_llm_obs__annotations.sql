with source as (

    select * from raw_llm_obs.annotations

),

renamed as (

    select
        ----------  ids
        queue_id,
        annotation_id,
        interaction_id,
        created_by,
        modified_by,

        ----------  json
        label_values::json as label_values,

        ----------  timestamps
        created_at,
        modified_at,
        _read_at as read_at

    from source

)

select * from renamed
