-- whether lower (`min`) or higher (`max`) is better, per metric key: a `[models.metric_directions]`
-- entry in the config wins; otherwise a key containing one of the words below is `min`
-- (val_loss, eval/rmse, latency_ms, trainLoss), anything else `max`. Whole words only, so
-- `power` is not `wer` and `timestamp` is not `time`.
with run_metrics as (

    select * from analytics.model_lab_run_metrics

),

-- materialised by the model runner from the config (validated there)
overrides as (

    select * from staging.stg_config__metric_directions

),

observed as (

    select distinct key as metric
    from run_metrics

),

every_metric as (

    select metric from observed
    union
    select metric from overrides

),

snake_cased as (

    select
        metric,
        -- camelCase to snake_case (trainLoss -> train_loss), lower-cased
        lower(regexp_replace(metric, '([a-z0-9])([A-Z])', '\1_\2', 'g')) as snake

    from every_metric

),

decided as (

    select
        snake_cased.metric,
        coalesce(
            overrides.direction,
            case
                -- one of the words, between non-letters or the ends of the key
                when regexp_matches(
                    snake_cased.snake,
                    '(^|[^a-z])(loss|error|mse|rmse|mae|mape|perplexity|latency|wer|cer|duration|time|cost)([^a-z]|$)'
                ) then 'min'
                else 'max'
            end
        ) as direction,
        case when overrides.direction is null then 'default' else 'config' end as source

    from snake_cased

    left join overrides
        on snake_cased.metric = overrides.metric

)

select * from decided
