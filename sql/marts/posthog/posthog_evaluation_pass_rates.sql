-- Pass rate per evaluation and UTC day: passes over applicable runs (NULL when none was)
with results as (

    select * from analytics.posthog_evaluation_results
    where evaluation_id is not null

),

daily as (

    select
        evaluation_id,
        cast(timezone('UTC', evaluated_at) as date) as day,
        count(*) as n,
        count(*) filter (where result) as n_pass,
        count(*) filter (where not result) as n_fail,
        count(*) filter (where not applicable) as n_not_applicable

    from results

    group by 1, 2

),

final as (

    select
        evaluation_id,
        day,
        n,
        n_pass,
        n_fail,
        n_not_applicable,
        cast(n_pass as double) / nullif(n_pass + n_fail, 0) as pass_rate

    from daily

)

select * from final
