-- the values of each facet key; numeric facets carry their range (one row with value NULL
-- when the API lists no values, e.g. metrics and durations)
with facet_values as (

    select * from staging.stg_model_lab__facet_values

),

final as (

    select
        scope,
        project_id,
        facet_type,
        facet_name,
        value,
        numeric_min,
        numeric_max,
        synced_at

    from facet_values

)

select * from final
