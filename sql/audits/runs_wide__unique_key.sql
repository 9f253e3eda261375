-- one wide row per run in analytics.runs_wide
with runs_wide as (

    select * from analytics.runs_wide

),

duplicates as (

    select run_id, count(*) as n_rows
    from runs_wide
    group by run_id
    having count(*) > 1

)

select * from duplicates
