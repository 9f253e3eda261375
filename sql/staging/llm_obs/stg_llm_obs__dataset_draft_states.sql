with source as (

    select * from raw_llm_obs.dataset_draft_states

),

renamed as (

    select
        ----------  ids
        dataset_id,
        project_id,
        locked_by_id,

        ----------  strings
        locked_by_email,
        locked_by_handle,
        locked_by_name,

        ----------  booleans
        is_locked,

        ----------  timestamps
        drafting_since,
        _observed_at as observed_at

    from source

)

select * from renamed
