with source as (

    select * from raw_llm_obs.label_schemas

),

renamed as (

    select
        ----------  ids
        queue_id,
        label_id,

        ----------  strings
        name,
        type,
        description,

        ----------  numerics
        _position as position,
        min,
        max,

        ----------  booleans
        is_required,
        is_integer,
        has_assessment,
        has_reasoning,
        is_assessment,

        ----------  lists
        from_json("values", '["VARCHAR"]') as allowed_values,

        ----------  timestamps
        _read_at as read_at

    from source

)

select * from renamed
