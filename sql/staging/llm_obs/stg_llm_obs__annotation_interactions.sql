with source as (

    select * from raw_llm_obs.annotation_interactions

),

renamed as (

    select
        ----------  ids
        queue_id,
        interaction_id,
        content_id,

        ----------  strings
        interaction_type,

        ----------  booleans
        can_annotate,

        ----------  json
        display_block::json as display_block,

        ----------  timestamps
        created_at,
        modified_at,
        _read_at as read_at

    from source

)

select * from renamed
