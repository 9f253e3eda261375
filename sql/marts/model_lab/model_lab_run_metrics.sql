with run_metrics as (

    select * from staging.stg_model_lab__run_metrics

),

final as (

    select
        run_id,
        key,
        step_count as count,
        first_step,
        last_step,
        latest,
        min,
        max,
        mean,
        stddev

    from run_metrics

)

select * from final
