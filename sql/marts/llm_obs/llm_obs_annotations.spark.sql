-- Spark override of llm_obs_annotations.sql (Spark SQL, used verbatim): Spark has no
-- json_each; Spark 4 explodes a JSON object read as VARIANT into (pos, key, value), and
-- to_json gives each value back as JSON text, as DuckDB's json_each does. Keep the rest
-- identical to the DuckDB model.
-- one row per annotation and label. The API keys `label_values` by label (name or schema
-- id, undocumented): `label` is the schema's name either way, `value` the JSON value.
with annotations as (

    select * from staging.stg_llm_obs__annotations

),

interactions as (

    select * from staging.stg_llm_obs__annotation_interactions

),

label_reads as (

    select
        queue_id,
        label_id,
        name,
        row_number() over (partition by queue_id, label_id order by read_at desc) as recency

    from staging.stg_llm_obs__label_schemas
    where label_id is not null and read_at is not null

),

label_names as (

    -- a renamed label keeps its id: the newest name wins
    select queue_id, label_id, name
    from label_reads
    where recency = 1

),

reads as (

    select parent_id, read_at, next_read_at
    from staging.stg_llm_obs__snapshots
    where collection = 'annotated_interactions'

),

queue_tombstones as (

    select id, detected_at
    from staging.stg_llm_obs__tombstones
    where entity = 'annotation_queue'

),

label_values as (

    select
        annotations.queue_id,
        annotations.annotation_id,
        entries.key as label_key,
        to_json(entries.value) as value

    from annotations,
        lateral variant_explode(parse_json(annotations.label_values)) as entries

),

joined as (

    select
        annotations.queue_id,
        annotations.interaction_id,
        interactions.interaction_type,
        interactions.content_id,
        annotations.annotation_id,
        coalesce(label_names.name, label_values.label_key) as label,
        label_values.value,
        annotations.created_by,
        annotations.created_at,
        annotations.modified_by,
        annotations.modified_at,
        (reads.next_read_at is not null or queue_tombstones.id is not null) as is_deleted,
        coalesce(reads.next_read_at, queue_tombstones.detected_at) as vanished_detected_at

    from annotations

    inner join label_values
        on annotations.queue_id = label_values.queue_id
        and annotations.annotation_id = label_values.annotation_id

    left join interactions
        on annotations.queue_id = interactions.queue_id
        and annotations.interaction_id = interactions.interaction_id

    left join label_names
        on annotations.queue_id = label_names.queue_id
        and label_values.label_key = label_names.label_id

    left join reads
        on annotations.queue_id = reads.parent_id
        and annotations.read_at = reads.read_at

    left join queue_tombstones
        on annotations.queue_id = queue_tombstones.id

)

select * from joined
