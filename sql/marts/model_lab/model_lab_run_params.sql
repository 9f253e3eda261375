-- params arrive as strings; value_double is the numeric reading, NULL when not a number
with run_params as (

    select * from staging.stg_model_lab__run_params

),

typed as (

    select
        run_id,
        key,
        value,
        try_cast(value as double) as value_double

    from run_params

)

select * from typed
