"""Spark SQL over the lake: the same `analytics` views, built in a Spark session.

`attach` registers each lake table the way `lake.attach` does for DuckDB: an external
Parquet table over the table's folder (`<dataset>._lake_<table>`) and a view
`raw_<source>.<table>` resolving dlt's append log (newest row per primary key, minus hard
deletes; for child tables the rows of the newest load per parent, by the load id in each
file's name). `engines.build` then builds `staging` and `analytics` from `sql/`.

The session is local (`local[2]`) unless `LABSYNC_SPARK_MASTER` or `--spark-master` names a
cluster (`spark://host:7077`, `yarn`, `k8s://...`); the views live in the session's catalog
(with a Hive metastore configured through `SPARK_CONF_DIR`, they stay there for other
sessions). Delta lakes need the delta-spark package; plain Parquet lakes need nothing more.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import engines, history, models
from . import lake as lakes
from .common.errors import ConfigurationError
from .warehouse import state_dir

logger = logging.getLogger("labsync")

DEFAULT_MASTER = "local[2]"
LOAD_ID = r"regexp_extract(_metadata.file_name, '(\\d+\\.\\d+)\\.[^/]+\\.parquet$', 1)"
SPARK_TYPES = {"varchar": "string", "double": "double", "bigint": "bigint"}


def session(master: str | None = None) -> Any:
    """A Spark session in UTC; a missing pyspark or Java is a ConfigurationError."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise ConfigurationError(
            "Spark needs the spark extra: pip install 'labsync[spark]'"
        ) from None
    java_home = os.environ.get("JAVA_HOME")
    java = Path(java_home, "bin", "java") if java_home else shutil.which("java")
    if not java or not Path(java).exists():
        raise ConfigurationError(
            "Spark needs Java 17 or newer: no `java` on PATH and no JAVA_HOME "
            "(e.g. apt-get install openjdk-17-jre-headless)"
        )
    master = master or os.environ.get("LABSYNC_SPARK_MASTER") or DEFAULT_MASTER
    warehouse_dir = Path(tempfile.gettempdir(), "labsync-spark-warehouse")
    builder = (
        SparkSession.builder.master(master)
        .appName("labsync")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.warehouse.dir", str(warehouse_dir))
    )
    if master.startswith("local"):
        # one process: every extra shuffle partition is a task scheduled for nothing (the
        # audits run ~40% faster than with 4); a cluster keeps its own setting
        builder = builder.config("spark.sql.shuffle.partitions", "1")
    try:
        spark = builder.getOrCreate()
        spark.sparkContext.setLogLevel("ERROR")
        return spark
    except Exception as exc:  # the JVM failed to start: say so in one line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigurationError(f"cannot start Spark ({master}): {first}") from None


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def attach(spark: Any, url: str) -> list[lakes.LakeTable]:
    """`raw_<source>.<table>` views over the lake's Parquet tables in `spark`."""
    url = lakes.normalise_url(url)
    tables = lakes.discover(url)
    for table in tables:
        if table.delta:
            raise ConfigurationError(
                f"{table.glob} is a Delta table: Spark reads Delta lakes with delta-spark; "
                "labsync's Spark views read Parquet lakes"
            )
        folder = table.glob.rsplit("/", 1)[0]
        location = folder if "://" in folder else f"file://{folder}"
        files = f"{table.dataset}.{_quote('_lake_' + table.name)}"
        spark.sql(f"create database if not exists {table.dataset}")
        spark.sql(f"drop table if exists {files}")
        spark.sql(
            f"create table {files} using parquet options (mergeSchema 'true') location '{location}'"
        )
        columns = ", ".join(_quote(c) for c in spark.table(files).columns)
        scan = f"select *, {LOAD_ID} as _lake_load_id from {files}"
        if table.primary_key:
            keys = ", ".join(_quote(k) for k in table.primary_key)
            resolved = (
                f"select * from (select *, row_number() over (partition by {keys} "
                f"order by _lake_load_id desc) as _lake_recency from ({scan})) "
                "where _lake_recency = 1"
            )
            for column in table.hard_delete:
                resolved += f" and not coalesce({_quote(column)}, false)"
        elif table.merge_key:
            keys = ", ".join(_quote(k) for k in table.merge_key)
            resolved = (
                f"select * from (select *, max(_lake_load_id) over (partition by {keys}) "
                f"as _lake_newest from ({scan})) where _lake_load_id = _lake_newest"
            )
        else:
            resolved = scan
        spark.sql(
            f"create or replace view {table.dataset}.{table.name} as "
            f"select {columns} from ({resolved})"
        )
    logger.info("attached %d lake tables from %s to Spark", len(tables), url)
    return tables


class SparkEngine(engines.Engine):
    dialect = "spark"

    def __init__(self, spark: Any) -> None:
        self.spark = spark

    def execute(self, sql: str) -> None:
        self.spark.sql(sql)

    def fetch(self, sql: str) -> list[tuple[object, ...]]:
        return [tuple(row) for row in self.spark.sql(sql).collect()]

    def relations(self) -> set[str]:
        found = set()
        for database in self.spark.catalog.listDatabases():
            for table in self.spark.catalog.listTables(database.name):
                if not table.isTemporary:
                    found.add(f"{database.name}.{table.name}")
        return found

    def write_table(
        self, name: str, columns: Sequence[tuple[str, str]], rows: list[tuple[object, ...]]
    ) -> None:
        """A view over literal rows (the config tables are a handful of rows)."""
        typed = [f"cast(%s as {SPARK_TYPES.get(t, t)}) as {c}" for c, t in columns]
        if not rows:
            select = "select " + ", ".join(t % "null" for t in typed) + " where false"
        else:
            select = " union all ".join(
                "select " + ", ".join(t % _literal(v) for t, v in zip(typed, row, strict=True))
                for row in rows
            )
        self.execute(f"create or replace view {name} as {select}")


def _literal(value: object) -> str:
    if value is None:
        return "null"
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def write_history(spark: Any, records: list[history.SyncRunRecord], folder: Path) -> None:
    """`raw_labsync.sync_runs` as a Parquet table of the lake's local history."""
    from datetime import datetime

    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = {n: [getattr(r, n) for r in records] for n in history.ARROW_SCHEMA.names}
    for name in ("started_at", "finished_at"):
        columns[name] = [datetime.fromisoformat(v) for v in columns[name]]
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.parquet"):
        old.unlink()
    pq.write_table(pa.table(columns, schema=history.ARROW_SCHEMA), folder / "sync_runs.parquet")
    spark.sql(f"create database if not exists {history.HISTORY_SCHEMA}")
    name = f"{history.HISTORY_SCHEMA}.{history.HISTORY_TABLE}"
    spark.sql(f"drop table if exists {name}")
    spark.sql(f"create table {name} using parquet location '{folder.as_uri()}'")
    spark.catalog.refreshTable(name)


def build_views(
    url: str, history_of: Path, spark: Any = None, master: str | None = None
) -> tuple[Any, list[models.AuditFailure]]:
    """Attach the lake, build `staging` and `analytics` in Spark and audit them.

    Returns the session (the views live in its catalog) and the audit failures. `history_of`
    is the lake's local anchor: its sync history becomes `raw_labsync.sync_runs`.
    """
    session_ = spark or session(master)
    attach(session_, url)
    write_history(session_, history.read(history_of), state_dir(history_of) / "spark-sync-runs")
    engine = SparkEngine(session_)
    engines.build(engine)
    return session_, engines.run_audits(engine)
