-- per project and metric: the range of each summary statistic (latest, min, max, mean, ...)
-- across the project's runs
with stat_ranges as (

    select * from staging.stg_model_lab__facet_metric_stat_ranges

),

final as (

    select
        project_id,
        facet_name,
        stat,
        min,
        max,
        synced_at

    from stat_ranges

)

select * from final
