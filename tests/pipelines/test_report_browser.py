"""The demo report in a real headless browser: Debian's chromium, driven by playwright.

`labsync demo` runs once per test session (shared by the xdist workers through a lock) and
writes the report beside its warehouse; one browser per worker opens it.
"""

from __future__ import annotations

import base64
import fcntl
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
from playwright.sync_api import Browser, Page, Route, sync_playwright

from pipelines.report import queries

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
EVERY_CHART_KIND = {
    "run-counts",
    "win-rates",
    "distribution",
    "sweep-parallel",
    "sweep-scatter",
    "experiment-scores",
    "against-baseline",
    "annotation-progress",
    "pass-rates",
    "dataset-sizes",
    "sync-volume",
}

# colourful pixels in a PNG, counted by the browser itself: traces are coloured, while axes,
# text and grid lines are grey; an empty chart has (next to) none
COLOURED_PIXELS_JS = """async (b64) => {
  const img = new Image(); img.src = "data:image/png;base64," + b64; await img.decode();
  const canvas = document.createElement("canvas");
  canvas.width = img.width; canvas.height = img.height;
  const g = canvas.getContext("2d"); g.drawImage(img, 0, 0);
  const d = g.getImageData(0, 0, canvas.width, canvas.height).data;
  let n = 0;
  for (let i = 0; i < d.length; i += 4) {
    if (Math.max(d[i], d[i + 1], d[i + 2]) - Math.min(d[i], d[i + 1], d[i + 2]) > 40) n++;
  }
  return n;
}"""


@dataclass(frozen=True)
class Demo:
    warehouse: Path
    report: Path
    stdout: str


def _demo_env() -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SOURCES__", "DD_", "POSTHOG_", "LABSYNC_", "DESTINATION__"))
    }
    env["RUNTIME__DLTHUB_TELEMETRY"] = "false"
    return env


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Demo:
    """`labsync demo` into a folder every xdist worker of this session shares."""
    base = tmp_path_factory.getbasetemp()
    root = (base if worker_id == "master" else base.parent) / "report-demo"
    root.mkdir(exist_ok=True)
    warehouse = root / "demo.duckdb"
    with open(root / "lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (root / "stdout.txt").exists():
            done = subprocess.run(
                [sys.executable, "-m", "pipelines", "demo", "--warehouse", str(warehouse)],
                capture_output=True,
                text=True,
                env=_demo_env(),
                timeout=300,
                check=False,
            )
            assert done.returncode == 0, done.stderr[-3000:]
            (root / "stdout.txt").write_text(done.stdout)
    return Demo(warehouse, root / "demo-report.html", (root / "stdout.txt").read_text())


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), "no chromium: `make test` installs Debian's package"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


@dataclass
class Loaded:
    page: Page
    problems: list[str]


@pytest.fixture
def loaded(browser: Browser, demo: Demo) -> Iterator[Loaded]:
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"uncaught: {e}"))

    def offline(route: Route) -> None:  # the page itself is the only thing it may load
        if route.request.url != demo.report.as_uri():
            problems.append(f"fetched {route.request.url}")
            route.abort()
        else:
            route.continue_()

    page.route("**/*", offline)
    page.goto(demo.report.as_uri())
    page.wait_for_load_state("load")
    yield Loaded(page, problems)
    page.close()


def test_demo_writes_the_report_beside_its_warehouse_and_prints_its_path(demo: Demo) -> None:
    assert f"report: {demo.report}" in demo.stdout
    size = demo.report.stat().st_size
    assert 1_000_000 < size < 8_000_000  # plotly.js (~4.8 MB) and the data
    assert not list(demo.report.parent.glob(".demo-report.html.*"))  # no temp file left


def test_the_report_is_self_contained(demo: Demo) -> None:
    text = demo.report.read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]+src=", text)
    assert not re.search(r"<link[^>]+href=", text)
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", text)
    # plotly.js (in the head) names sites it never loads for these charts; the page itself
    # links only to the runs' own pages
    body = text.split("</head>", 1)[1]
    for url in re.findall(r'<a href="(https?://[^"]+)"', body):
        assert url.startswith("https://mlflow.internal.example.com/")


def test_every_chart_draws_with_no_console_error(loaded: Loaded, demo: Demo) -> None:
    page = loaded.page
    figures = page.query_selector_all("figure.chart")
    printed = re.search(r"report: .*?, (\d+) charts", demo.stdout)
    assert printed and len(figures) == int(printed.group(1))
    kinds = [f.get_attribute("data-chart") for f in figures]
    assert set(kinds) == EVERY_CHART_KIND
    for figure in figures:
        figure.scroll_into_view_if_needed()
        plot = figure.query_selector(".plot")
        page.wait_for_function("div => div.dataset.rendered === '1'", arg=plot, timeout=15000)
        assert plot is not None and plot.query_selector(".main-svg") is not None
        # the colour bar of a parallel-coordinates chart is coloured too: hide it to see lines
        page.evaluate("d => d.querySelectorAll('.colorbar').forEach(c => c.remove())", plot)
        png = figure.screenshot()
        coloured = page.evaluate(COLOURED_PIXELS_JS, base64.b64encode(png).decode())
        assert coloured > 500, f"{figure.get_attribute('data-chart')} drew nothing"
    assert loaded.problems == []


def test_an_empty_chart_counts_as_drawing_nothing(browser: Browser, tmp_path: Path) -> None:
    """The pixel check above can fail: axes and titles alone are not a drawing."""
    import plotly.graph_objects as go

    from pipelines.report.html import Page as ReportPage

    page_html = ReportPage("empty", "")
    empty = go.Figure(go.Scatter(x=[], y=[]))
    empty.update_layout(title="nothing here", xaxis_title="x", yaxis_title="y")
    page_html.section("only", "Only").append(page_html.chart(empty, "empty"))
    path = tmp_path / "empty.html"
    path.write_text(page_html.render(), encoding="utf-8")
    page = browser.new_page()
    try:
        page.goto(path.as_uri())
        plot = page.query_selector("figure.chart .plot")
        page.wait_for_function("div => div.dataset.rendered === '1'", arg=plot, timeout=15000)
        png = page.query_selector("figure.chart").screenshot()  # type: ignore[union-attr]
        assert page.evaluate(COLOURED_PIXELS_JS, base64.b64encode(png).decode()) < 500
    finally:
        page.close()


def test_leaderboard_rows_shown_equal_the_leaderboard_views_top_rows(
    loaded: Loaded, demo: Demo
) -> None:
    shown = loaded.page.evaluate(
        """() => Array.from(document.querySelectorAll("table[data-leaderboard]")).map(t => [
            Number(t.dataset.leaderboard), t.dataset.metric,
            Array.from(t.tBodies[0].rows).map(r => [
                Number(r.cells[0].textContent), Number(r.dataset.runId),
                Number(r.dataset.value)])
        ])"""
    )
    with duckdb.connect(str(demo.warehouse), read_only=True) as con:
        pairs = con.execute(
            """
            select distinct board.project_id, board.metric
            from analytics.leaderboard as board
            join analytics.model_lab_projects as projects using (project_id)
            where not projects.is_deleted
            order by 1, 2
            """
        ).fetchall()
        assert [(p, m) for p, m, _ in shown] == pairs
        for project_id, metric, rows in shown:
            expected = con.execute(
                "select rank, run_id, value from analytics.leaderboard "
                "where project_id = ? and metric = ? order by rank, run_id limit ?",
                [project_id, metric, queries.TOP_RUNS],
            ).fetchall()
            assert [(int(r), int(i), float(v)) for r, i, v in rows] == [
                (r, i, float(v)) for r, i, v in expected
            ], (project_id, metric)


def test_tables_sort_by_a_clicked_column(loaded: Loaded) -> None:
    page = loaded.page
    table = page.query_selector("table[data-leaderboard]")
    assert table is not None
    header = table.query_selector_all("th")[2]  # run id
    header.click()
    ascending = [
        int(c.text_content() or 0) for c in table.query_selector_all("tbody td:nth-child(3)")
    ]
    assert ascending == sorted(ascending)
    header.click()
    descending = [
        int(c.text_content() or 0) for c in table.query_selector_all("tbody td:nth-child(3)")
    ]
    assert descending == sorted(ascending, reverse=True)


def test_screenshot_of_the_demo_report(browser: Browser, demo: Demo, tmp_path: Path) -> None:
    """The top of the demo report as docs/report.png shows it (REPORT_SCREENSHOT=docs/report.png
    refreshes that file): the charts in view have drawn before the shot."""
    target = os.environ.get("REPORT_SCREENSHOT")
    path = Path(target).resolve() if target else tmp_path / "report.png"
    page = browser.new_page(viewport={"width": 1366, "height": 2000})
    try:
        page.goto(demo.report.as_uri())
        page.wait_for_function(
            """() => Array.from(document.querySelectorAll("figure.chart .plot"))
                .filter(d => d.getBoundingClientRect().top < window.innerHeight)
                .every(d => d.dataset.rendered === "1")"""
        )
        page.screenshot(path=str(path))
    finally:
        page.close()
    assert path.stat().st_size > 50_000
