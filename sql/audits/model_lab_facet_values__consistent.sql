-- a facet's numeric range never runs backwards, and both ends come together
with facet_values as (

    select * from analytics.model_lab_facet_values

),

contradictions as (

    select *
    from facet_values
    where numeric_min > numeric_max
        or (numeric_min is null) <> (numeric_max is null)

)

select * from contradictions
