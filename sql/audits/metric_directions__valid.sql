-- each metric has exactly one direction, and it is `min` or `max`
with metric_directions as (

    select * from analytics.metric_directions

),

invalid as (

    select
        metric,
        count(*) as n_rows,
        list(direction) as directions

    from metric_directions

    group by metric

    having count(*) > 1 or bool_or(direction is null or direction not in ('min', 'max'))

)

select * from invalid
