-- each key appears once per run in analytics.model_lab_run_params. Grouping by (run_id, key) is a
-- hash table of one group per row (~10M at 1M runs, 1-2.5 CPU-s), so this finds the suspect
-- runs by run first, exactly: each key gets its own bit (up to 31 keys a group), and a run's
-- keys are distinct iff the sum of their bits equals their bitwise OR (a repeated bit
-- carries). Grouping the raw rows by run is a superset of the current rows (staging keeps a
-- run's rows of its newest version), so every duplicate is among the suspects; the
-- (run_id, key) grouping then runs over the suspects' current rows only.
with model_lab_run_params as (

    select * from analytics.model_lab_run_params

),

key_bits as (

    select
        key,
        (n - n % 31) / 31 as bit_group,
        cast(1 as bigint) << cast(n % 31 as integer) as bit

    from (
        select key, row_number() over (order by key) - 1 as n
        from (select distinct key from raw_model_lab.run_params) as distinct_keys
    ) as numbered

),

suspect_runs as (

    select distinct raw_params.run_id
    from raw_model_lab.run_params as raw_params
    left join key_bits
        on raw_params.key = key_bits.key
    -- rows without a key get no bit: they group apart, and two of them are suspect
    group by raw_params.run_id, key_bits.bit_group
    having sum(key_bits.bit) <> bit_or(key_bits.bit) or count(*) - count(key_bits.bit) > 1

),

duplicates as (

    select model_lab_run_params.run_id, model_lab_run_params.key, count(*) as n_rows
    from model_lab_run_params
    inner join suspect_runs
        on model_lab_run_params.run_id = suspect_runs.run_id
    group by model_lab_run_params.run_id, model_lab_run_params.key
    having count(*) > 1

)

select * from duplicates
