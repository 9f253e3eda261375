with source as (

    select * from raw_llm_obs.annotation_queues

),

renamed as (

    select
        ----------  ids
        queue_id,
        project_id,
        owned_by,
        created_by,
        modified_by,

        ----------  strings
        name,
        description,

        ----------  booleans
        can_manage_access,
        restrict_to_assignees,
        restrict_to_reviewers,

        ----------  json
        reviewer_emails::json as reviewer_emails,

        ----------  timestamps
        created_at,
        modified_at,
        _synced_at as synced_at

    from source

)

select * from renamed
