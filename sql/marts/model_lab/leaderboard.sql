-- per (project, metric): the eligible runs (completed, not deleted, metric present) ranked by
-- their latest value in the metric's direction. Ties share a rank and the next rank counts
-- them (1, 1, 3), so a rank is always 1 + the number of strictly better runs. win_rate: the
-- share of the other runs it beats, ties counting half (NULL when it is the only run).
with run_comparison as (

    select * from analytics.run_comparison

),

eligible as (

    select
        project_id,
        metric,
        direction,
        rank_in_project as rank,
        run_id,
        run_name,
        latest as value,
        n_ranked_runs as n_runs,
        win_rate

    from run_comparison

    where is_eligible

)

select * from eligible
