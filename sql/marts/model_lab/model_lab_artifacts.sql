-- every artifact file and directory: run walks (directories, files per run) joined with the
-- flat project listings (creation times, files outside any run). `path` is relative to the
-- project (what the content endpoint takes), `run_path` relative to the run's artifact root.
-- A file maps to the run whose artifact root it sits under: the root from the run's last walk,
-- else from its mlflow_artifact_location (mlflow-artifacts:///<project_id>/<root>).
-- Nothing is dropped: files of deleted runs or projects, and files a later walk of their run no
-- longer shows, stay with is_deleted = true.
with run_entries as (

    select * from staging.stg_model_lab__run_artifacts

),

project_files as (

    select * from staging.stg_model_lab__project_artifacts

),

walks as (

    select * from staging.stg_model_lab__run_artifact_walks

),

runs as (

    select * from analytics.model_lab_runs

),

projects as (

    select * from analytics.model_lab_projects

),

run_roots as (

    select
        runs.run_id,
        runs.project_id,
        walks.walked_at,
        walks.is_truncated,
        coalesce(
            walks.path_in_project,
            nullif(regexp_extract(runs.mlflow_artifact_location, '^[^:]+:///[0-9]+/(.+)$', 1), '')
        ) as artifact_root

    from runs

    left join walks
        on runs.run_id = walks.run_id

),

files_with_runs as (

    select
        project_files.project_id,
        project_files.artifact_path,
        project_files.file_size,
        project_files.created_at,
        project_files.listed_at,
        run_roots.run_id,
        run_roots.artifact_root,
        run_roots.walked_at,
        run_roots.is_truncated

    from project_files

    -- the first segment (the run's uuid) makes this an equi-join; the prefix test confirms it
    left join run_roots
        on project_files.project_id = run_roots.project_id
        and split_part(project_files.artifact_path, '/', 1)
            = split_part(run_roots.artifact_root, '/', 1)
        and starts_with(project_files.artifact_path, run_roots.artifact_root || '/')

),

combined as (

    select
        coalesce(run_entries.project_id, files_with_runs.project_id) as project_id,
        coalesce(run_entries.run_id, files_with_runs.run_id) as run_id,
        coalesce(run_entries.artifact_path, files_with_runs.artifact_path) as path,
        coalesce(
            run_entries.path,
            substr(files_with_runs.artifact_path, length(files_with_runs.artifact_root) + 2)
        ) as run_path,
        coalesce(run_entries.is_dir, false) as is_dir,
        coalesce(run_entries.file_size, files_with_runs.file_size) as file_size,
        files_with_runs.created_at,
        -- listed, then missing from a complete walk of its run in a later sync: gone
        coalesce(
            run_entries.run_id is null
            and not files_with_runs.is_truncated
            and files_with_runs.walked_at > files_with_runs.listed_at,
            false
        ) as is_unlisted

    from run_entries

    full outer join files_with_runs
        on run_entries.project_id = files_with_runs.project_id
        and run_entries.artifact_path = files_with_runs.artifact_path

),

flagged as (

    select
        combined.project_id,
        combined.run_id,
        combined.path,
        combined.run_path,
        combined.is_dir,
        combined.file_size,
        combined.created_at,
        -- deleted runs and projects keep their artifacts, flagged like the runs themselves
        (
            combined.is_unlisted
            or coalesce(runs.is_deleted, false)
            or coalesce(projects.is_deleted, false)
        ) as is_deleted

    from combined

    left join runs
        on combined.run_id = runs.run_id

    left join projects
        on combined.project_id = projects.project_id

)

select * from flagged
