"""The report's charts: plotly figures from the frames `queries` shapes (SVG traces only, so
every chart draws without WebGL). Each function returns one `go.Figure` with a title that
says what it shows and axes that name their units."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

HEIGHT = 380


def _layout(fig: go.Figure, title: str, *, height: int = HEIGHT, **axes: object) -> go.Figure:
    layout: dict[str, object] = {
        "title": {"text": title, "x": 0, "xanchor": "left", "font": {"size": 15}},
        # the page applies plotly_white to every chart once (building it per figure is slow)
        "template": "none",
        "height": height,
        "margin": {"l": 60, "r": 20, "t": 60, "b": 50},
        "legend": {"orientation": "h", "y": -0.2},
    }
    fig.update_layout(**(layout | axes))
    return fig


def _direction(direction: str) -> str:
    return "lower is better" if direction == "min" else "higher is better"


def win_rate_board(board: pd.DataFrame, project: str) -> go.Figure:
    board = board.iloc[::-1]  # best at the top
    fig = go.Figure(
        go.Bar(
            x=board["mean_win_rate"] * 100,
            y=[
                f"#{r} {n} ({i})"
                for r, n, i in zip(board["rank"], board["run_name"], board["run_id"], strict=True)
            ],
            orientation="h",
            customdata=board[["n_metrics", "n_project_metrics"]],
            hovertemplate="%{y}: %{x:.1f}% over %{customdata[0]} of %{customdata[1]} metrics"
            "<extra></extra>",
        )
    )
    return _layout(
        fig,
        f"{project}: mean win rate over the project's metrics (top {len(board)} runs)",
        xaxis_title="mean win rate (% of other runs beaten, ties count half)",
        xaxis_range=[0, 100],
        height=max(260, 40 + 28 * len(board)),
        margin={"l": 220, "r": 20, "t": 60, "b": 50},
    )


def distribution(stats: pd.DataFrame, project: str, metric: str, direction: str) -> go.Figure:
    fig = go.Figure(
        go.Box(
            x=[f"{s} (n={n:,})" for s, n in zip(stats["status"], stats["n"], strict=True)],
            lowerfence=stats["low"],
            q1=stats["q1"],
            median=stats["median"],
            q3=stats["q3"],
            upperfence=stats["high"],
            name=metric,
            boxpoints=False,
        )
    )
    return _layout(
        fig,
        f"{project}: {metric} by run status (latest value; min, quartiles, max)",
        xaxis_title="run status (number of runs)",
        yaxis_title=f"{metric} ({_direction(direction)})",
    )


def sweep_parallel(
    children: pd.DataFrame, params: list[str], sweep: str, metric: str, direction: str
) -> go.Figure:
    """Parallel coordinates: one line per child run, params then the metric, coloured by it."""
    wide = children.pivot(index=["run_id", "value"], columns="key", values="param").reset_index()
    dimensions = []
    for key in params:
        column = wide[key]
        numeric = pd.to_numeric(column, errors="coerce")
        if numeric.notna().sum() == column.notna().sum():
            dimensions.append({"label": key, "values": numeric})
        else:
            categories = sorted(column.dropna().astype(str).unique())
            codes = column.astype(str).map({c: i for i, c in enumerate(categories)})
            dimensions.append(
                {
                    "label": key,
                    "values": codes,
                    "tickvals": list(range(len(categories))),
                    "ticktext": categories,
                }
            )
    dimensions.append({"label": metric, "values": wide["value"]})
    fig = go.Figure(
        go.Parcoords(
            line={
                "color": wide["value"],
                "colorscale": "Viridis",
                "reversescale": direction == "min",
                "showscale": True,
                "colorbar": {"title": {"text": metric}},
            },
            dimensions=dimensions,
        )
    )
    return _layout(
        fig,
        f"Sweep {sweep}: params against {metric} ({len(wide):,} child runs, "
        f"{_direction(direction)})",
        margin={"l": 60, "r": 60, "t": 90, "b": 40},
    )


def sweep_scatter(
    children: pd.DataFrame, param: str, strength: float, sweep: str, metric: str, direction: str
) -> go.Figure:
    points = children[children["key"] == param]
    numeric = pd.to_numeric(points["param"], errors="coerce")
    x = numeric if numeric.notna().all() else points["param"].astype(str)
    fig = go.Figure(
        go.Scatter(
            x=x,
            y=points["value"],
            mode="markers",
            marker={"size": 7, "opacity": 0.7},
            text=[f"run {r}" for r in points["run_id"]],
            hovertemplate="%{text}: " + param + "=%{x}, " + metric + "=%{y}<extra></extra>",
        )
    )
    measure = "η" if x is not numeric else "|ρ|"
    return _layout(
        fig,
        f"Sweep {sweep}: {metric} against its most influential param, {param} "
        f"({measure} = {strength:.2f})",
        xaxis_title=f"{param} (param value)",
        yaxis_title=f"{metric} ({_direction(direction)})",
    )


def run_counts(counts: pd.DataFrame, period: str) -> go.Figure:
    fig = go.Figure(
        [
            go.Bar(x=group["period"], y=group["runs"], name=str(project))
            for project, group in counts.groupby("project", sort=True)
        ]
    )
    return _layout(
        fig,
        f"Model Lab runs created per {period}, by project",
        barmode="stack",
        xaxis_title=f"{period} (UTC, start of {period})",
        yaxis_title=f"runs created per {period}",
    )


def experiment_scores(scores: pd.DataFrame) -> go.Figure:
    labels = sorted(scores["label"].unique())
    columns = min(3, len(labels))
    rows = -(-len(labels) // columns)
    fig = make_subplots(rows=rows, cols=columns, subplot_titles=labels, shared_xaxes=True)
    datasets = sorted(scores["dataset"].unique())
    for index, label in enumerate(labels):
        of_label = scores[scores["label"] == label]
        for colour, dataset in enumerate(datasets):
            points = of_label[of_label["dataset"] == dataset]
            if points.empty:
                continue
            fig.add_trace(
                go.Scatter(
                    x=points["created_at"],
                    y=points["value"],
                    mode="lines+markers",
                    name=dataset,
                    legendgroup=dataset,
                    showlegend=index == 0
                    or dataset not in set(scores[scores["label"].isin(labels[:index])]["dataset"]),
                    marker={"color": _palette(colour)},
                    line={"color": _palette(colour)},
                    text=points["experiment"],
                    hovertemplate="%{text}<br>%{x}: %{y:.3f}<extra>" + dataset + "</extra>",
                ),
                row=index // columns + 1,
                col=index % columns + 1,
            )
    fig.update_yaxes(title_text="score (mean, or share true)", col=1)
    return _layout(
        fig,
        "LLM Observability: experiment scores per dataset over time (by evaluation label)",
        height=max(HEIGHT, 280 * rows),
    )


def against_baseline(compared: pd.DataFrame) -> go.Figure:
    experiments = list(dict.fromkeys(compared["experiment"]))
    fig = make_subplots(
        rows=1, cols=len(experiments), subplot_titles=experiments, shared_yaxes=True
    )
    for index, experiment in enumerate(experiments, start=1):
        rows = compared[compared["experiment"] == experiment]
        for role, column, colour in (("baseline", "baseline_value", 7), ("experiment", "value", 0)):
            fig.add_trace(
                go.Bar(
                    x=rows["label"],
                    y=rows[column],
                    name=role,
                    legendgroup=role,
                    showlegend=index == 1,
                    marker={"color": _palette(colour)},
                ),
                row=1,
                col=index,
            )
    fig.update_yaxes(title_text="score (mean, or share true)", col=1)
    fig.update_xaxes(title_text="evaluation label")
    return _layout(
        fig, "LLM Observability: the latest experiments against their baseline", barmode="group"
    )


def annotation_progress(progress: pd.DataFrame) -> go.Figure:
    fig = go.Figure(
        [
            go.Bar(
                y=progress["queue"],
                x=progress[column],
                name=name,
                orientation="h",
                marker={"color": _palette(color)},
            )
            for column, name, color in [
                ("annotated", "annotated", 2),
                ("pending", "not yet annotated", 7),
            ]
        ]
    )
    return _layout(
        fig,
        "LLM Observability: annotation queue progress",
        barmode="stack",
        xaxis_title="interactions in the queue",
        height=max(240, 120 + 40 * len(progress)),
        margin={"l": 200, "r": 20, "t": 60, "b": 50},
    )


def pass_rates(rates: pd.DataFrame) -> go.Figure:
    fig = go.Figure(
        [
            go.Scatter(
                x=group["day"],
                y=group["pass_rate"] * 100,
                name=str(evaluation),
                mode="lines+markers",
                customdata=group[["n_pass", "n_fail"]],
                hovertemplate="%{x}: %{y:.0f}% (%{customdata[0]} passed, %{customdata[1]} "
                "failed)<extra>" + str(evaluation) + "</extra>",
            )
            for evaluation, group in rates.groupby("evaluation", sort=True)
        ]
    )
    return _layout(
        fig,
        "PostHog: evaluation pass rate per day",
        xaxis_title="day (UTC)",
        yaxis_title="pass rate (% of applicable results)",
        yaxis_range=[0, 105],
    )


def dataset_sizes(sizes: pd.DataFrame) -> go.Figure:
    fig = go.Figure(go.Bar(x=sizes["dataset"], y=sizes["items"]))
    return _layout(
        fig, "PostHog: dataset sizes", xaxis_title="dataset", yaxis_title="items in the dataset"
    )


def sync_volume(volume: pd.DataFrame) -> go.Figure:
    fig = make_subplots(
        rows=2, cols=1, shared_xaxes=True, subplot_titles=["rows loaded", "API requests"]
    )
    for colour, (source, group) in enumerate(volume.groupby("source", sort=True)):
        for row, column in ((1, "rows_loaded"), (2, "requests")):
            fig.add_trace(
                go.Scatter(
                    x=group["started_at"],
                    y=group[column],
                    name=str(source),
                    legendgroup=str(source),
                    showlegend=row == 1,
                    mode="lines+markers",
                    marker={"color": _palette(colour)},
                    line={"color": _palette(colour)},
                ),
                row=row,
                col=1,
            )
    fig.update_yaxes(title_text="rows per sync", row=1, col=1)
    fig.update_yaxes(title_text="requests per sync", row=2, col=1)
    fig.update_xaxes(title_text="sync start (UTC)", row=2, col=1)
    return _layout(fig, "Sync health: rows loaded and API requests per sync, by source", height=480)


def _palette(index: int) -> str:
    colours = [
        "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
        "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
    ]  # fmt: skip
    return colours[index % len(colours)]
