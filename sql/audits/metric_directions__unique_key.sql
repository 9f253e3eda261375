-- one direction per metric in analytics.metric_directions
with metric_directions as (

    select * from analytics.metric_directions

),

duplicates as (

    select metric, count(*) as n_rows
    from metric_directions
    group by metric
    having count(*) > 1

)

select * from duplicates
