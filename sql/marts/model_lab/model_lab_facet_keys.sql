-- the facet keys the API offers: scope 'project' (org-wide, project_id NULL) or 'run' (per
-- project); facet_type is metric, parameter or tag; snapshots replaced when their scope changed
with facet_keys as (

    select * from staging.stg_model_lab__facet_keys

),

final as (

    select
        scope,
        project_id,
        facet_type,
        facet_name,
        synced_at

    from facet_keys

)

select * from final
