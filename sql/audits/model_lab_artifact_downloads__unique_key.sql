-- each file is recorded once in analytics.model_lab_artifact_downloads
with downloads as (

    select * from analytics.model_lab_artifact_downloads

),

duplicates as (

    select project_id, artifact_path, count(*) as n_rows
    from downloads
    group by project_id, artifact_path
    having count(*) > 1

)

select * from duplicates
