-- one range per project, metric and statistic, and it never runs backwards
with stat_ranges as (

    select * from analytics.model_lab_metric_stat_ranges

),

problems as (

    select project_id, facet_name, stat, count(*) as n_rows, bool_or(min > max) as backwards
    from stat_ranges
    group by project_id, facet_name, stat
    having count(*) > 1 or bool_or(min > max)

)

select * from problems
