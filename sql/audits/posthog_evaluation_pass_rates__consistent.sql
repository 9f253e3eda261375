-- every run is a pass, a fail or not applicable; rates are fractions
with pass_rates as (

    select * from analytics.posthog_evaluation_pass_rates

),

inconsistent as (

    select *
    from pass_rates
    where n != n_pass + n_fail + n_not_applicable
        or pass_rate < 0
        or pass_rate > 1

)

select * from inconsistent
