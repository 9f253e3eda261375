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

worded as (

    select
        metric,
        -- camelCase to snake_case, then split on anything that is not a letter
        string_split_regex(
            lower(regexp_replace(metric, '([a-z0-9])([A-Z])', '\1_\2', 'g')), '[^a-z]+'
        ) as words

    from every_metric

),

decided as (

    select
        worded.metric,
        coalesce(
            overrides.direction,
            case
                when list_has_any(worded.words, [
                    'loss', 'error', 'mse', 'rmse', 'mae', 'mape', 'perplexity', 'latency',
                    'wer', 'cer', 'duration', 'time', 'cost'
                ]) then 'min'
                else 'max'
            end
        ) as direction,
        case when overrides.direction is null then 'default' else 'config' end as source

    from worded

    left join overrides
        on worded.metric = overrides.metric

)

select * from decided
