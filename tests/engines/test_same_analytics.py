"""The same `analytics` on DuckDB, Postgres and Spark: one emulator, three destinations.

Every analytics view is fingerprinted (row count + hash of the sorted, normalised rows) on
each engine and must equal DuckDB's, after a first sync and again after an incremental sync
with updates, inserts and hard deletes (`--reconcile`).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pytest

from emulator import Emulator
from pipelines import cli, runner, search
from pipelines import compare as comparing
from pipelines import spark as spark_views
from tests.engines import fingerprint as fp
from tests.engines.pgserver import Server

pytestmark = pytest.mark.xdist_group("engines")
logger = logging.getLogger("tests.engines")
LLM_OBS_AND_POSTHOG = ("llm_obs", "posthog")


def change_everything(emu: Emulator) -> None:
    """Updates, inserts and a hard delete in Model Lab."""
    ids = emu.model_lab.run_ids()
    for run_id in ids[:5]:
        emu.model_lab.update_run(run_id, name=f"renamed-{run_id}", params=[])
    project = emu.model_lab.project_ids()[0]
    for _ in range(3):
        emu.model_lab.insert_run(project)
    emu.model_lab.delete_run(ids[9])


def compare(reference: Path, pg_url: str, spark: Any) -> dict[str, list[str]]:
    views, json_columns, duck = fp.duckdb_reference(str(reference))
    expected = {
        "postgres": fp.fingerprints(views, duck, json_columns),
        "spark": fp.fingerprints(views, duck, json_columns, publishes=False),
    }
    assert len(views) >= 35 and expected["postgres"]["model_lab_runs"][0] > 0
    found = {
        "postgres": fp.fingerprints(views, fp.postgres_fetch(pg_url), json_columns),
        "spark": fp.fingerprints(views, fp.spark_fetch(spark), json_columns, publishes=False),
    }
    differences = {engine: fp.diff(expected[engine], found[engine]) for engine in found}
    for engine, differing in differences.items():
        logger.warning("%s: %d/%d views equal", engine, len(views) - len(differing), len(views))
    return differences


def test_postgres_and_spark_build_duckdbs_analytics(
    datadog_env: Emulator,
    pg_server: Server,
    spark_session: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    emu = datadog_env
    monkeypatch.setenv("SOURCES__POSTHOG__BASE_URL", emu.base_url)
    monkeypatch.setenv("SOURCES__POSTHOG__PROJECT_ID", str(emu.posthog.project_id))
    monkeypatch.setenv("SOURCES__POSTHOG__API_KEY", "phx_test_key")
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", pg_server.url())
    reference = tmp_path / "duckdb" / "labsync.duckdb"
    lake, lake_views = str(tmp_path / "lake"), tmp_path / "lake-views" / "lake.duckdb"
    timings: dict[str, float] = {}

    def sync_all(**options: Any) -> None:
        for name, kwargs in (
            ("duckdb", {}),
            ("postgres", {"destination": "postgres"}),
            ("lake", {"lake": lake}),
        ):
            started = time.monotonic()
            path = lake_views if name == "lake" else reference
            result = runner.sync(path, **kwargs, **options)
            assert result.audit_failures == [], name
            timings[name] = time.monotonic() - started
        started = time.monotonic()
        _, failures = spark_views.build_views(
            lake, runner.lakes.local_anchor(lake, lake_views), spark=spark_session
        )
        timings["spark views"] = time.monotonic() - started
        assert failures == []

    sync_all()
    assert compare(reference, pg_server.url(), spark_session) == {"postgres": [], "spark": []}
    change_everything(emu)
    sync_all(reconcile=True)
    assert compare(reference, pg_server.url(), spark_session) == {"postgres": [], "spark": []}
    logger.warning("timings: %s", {k: round(v, 1) for k, v in timings.items()})
    assert_readers_agree(reference, spark_session)
    assert_failed_audit_keeps_postgres_views(pg_server.url(), reference)


def assert_readers_agree(reference: Path, spark: Any) -> None:
    """search_runs, compare and status read Postgres (and search_runs Spark) like DuckDB."""
    query = {"filter_string": "attributes.status = 'FINISHED'", "order_by": ["run_id"]}
    expected = search.search_runs(warehouse=reference, **query)
    assert len(expected) > 10
    for found in (
        search.search_runs(destination="postgres", **query),
        search.search_runs(spark=spark, **query),
    ):
        assert list(found["run_id"]) == list(expected["run_id"])
        assert sorted(found.columns) == sorted(expected.columns)
    first, second = (int(i) for i in expected["run_id"][:2])
    assert comparing.render(comparing.compare(reference, [first, second])) == comparing.render(
        comparing.compare(reference, [first, second], destination="postgres")
    )
    assert cli.main(["status", "--destination", "postgres", "--warehouse", str(reference)]) == 0
    assert cli.main(["search", "attributes.status = 'FINISHED'", "--destination", "postgres"]) == 0


def assert_failed_audit_keeps_postgres_views(url: str, reference: Path) -> None:
    """A duplicated run id fails an audit: `analytics` keeps its views, the new ones wait in
    `analytics__next`, and the publish is recorded as held back."""
    import psycopg2

    from pipelines import history, postgres

    con = psycopg2.connect(url)
    con.autocommit = True
    with con.cursor() as cur:
        cur.execute("select count(*) from analytics.model_lab_runs")
        (published_rows,) = cur.fetchone()
        cur.execute("select min(run_id), max(run_id) from raw_model_lab.runs")
        first, last = cur.fetchone()
        cur.execute("update raw_model_lab.runs set run_id = %s where run_id = %s", [first, last])
    target = postgres.configured()
    failures = postgres.build_views(target, history.read(target.local_anchor(reference)))
    assert "model_lab_runs__unique_key" in {f.name for f in failures}
    with con.cursor() as cur:
        cur.execute("select count(*) from analytics.model_lab_runs")
        assert cur.fetchone() == (published_rows,)
        cur.execute(
            f"select count(*), count(distinct run_id) from analytics{postgres.NEXT}.model_lab_runs"
        )
        rows, distinct = cur.fetchone()
        assert rows == distinct + 1
        cur.execute(
            "update raw_model_lab.runs set run_id = %s where run_id = %s and "
            "ctid = (select max(ctid) from raw_model_lab.runs where run_id = %s)",
            [last, first, first],
        )
    con.close()
