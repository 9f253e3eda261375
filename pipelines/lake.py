"""A Parquet or Delta lake written by dlt's filesystem destination, and DuckDB views over it.

On a filesystem destination dlt cannot merge plain Parquet: it appends every load. The lake
is therefore a log of loads, and the views labsync builds over it resolve the log the way
the DuckDB merge would: the newest row per primary key (minus hard-deleted keys), and for
child tables (merge key) the rows of the newest load per parent. The keys come from the dlt
schema stored in the lake itself, so any machine can build the views from the URL alone.

Delta tables (`--table-format delta`) are already merged on their primary key; child tables
are appended there too and resolved the same way, by their `_dlt_load_id` column. DuckDB's
delta extension needs a download, so the views read the Parquet files of the table's current
version, listed by the `deltalake` package when the views are built.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import fsspec
import pyarrow as pa

from .common.config import config_value, secret_value
from .common.dlt_tables import LOAD_ID  # the load column Delta tables carry
from .common.errors import ConfigurationError

logger = logging.getLogger("labsync")

DLT_TABLES = ("_dlt_version", "_dlt_loads", "_dlt_pipeline_state")


@dataclass(frozen=True)
class LakeTable:
    dataset: str
    name: str
    glob: str
    primary_key: tuple[str, ...]
    merge_key: tuple[str, ...]
    hard_delete: tuple[str, ...]
    delta: bool = False  # `glob` is then the table's URL


def normalise_url(url: str) -> str:
    if "://" not in url:
        url = Path(url).expanduser().resolve().as_uri()
    return url.rstrip("/")


def local_anchor(url: str, warehouse: Path) -> Path:
    """A per-lake path beside the warehouse: its lock, dlt state and history live there."""
    digest = hashlib.sha1(normalise_url(url).encode()).hexdigest()[:10]
    return warehouse.parent / f"lake-{digest}.duckdb"


def _s3_credentials() -> tuple[Any, Any, Any]:
    """Key, secret and endpoint from dlt's filesystem credentials (or AWS_* env)."""
    key = secret_value("destination.filesystem.credentials.aws_access_key_id", "AWS_ACCESS_KEY_ID")
    secret = secret_value(
        "destination.filesystem.credentials.aws_secret_access_key", "AWS_SECRET_ACCESS_KEY"
    )
    return key, secret, config_value("destination.filesystem.credentials.endpoint_url")


def storage_options() -> dict[str, Any]:
    """fsspec options for object stores."""
    options: dict[str, Any] = {}
    key, secret, endpoint = _s3_credentials()
    if key and secret:
        options.update(key=key, secret=secret)
    if endpoint:
        options["client_kwargs"] = {"endpoint_url": endpoint}
    return options


def delta_storage_options() -> dict[str, str]:
    """object_store options for `deltalake`, from the same credentials as `storage_options`."""
    options: dict[str, str] = {}
    key, secret, endpoint = _s3_credentials()
    region = config_value("destination.filesystem.credentials.region_name") or os.environ.get(
        "AWS_DEFAULT_REGION"
    )
    if key and secret:
        options.update(aws_access_key_id=str(key), aws_secret_access_key=str(secret))
    if region:
        options["region"] = str(region)
    if endpoint:
        options["endpoint_url"] = str(endpoint)
        if str(endpoint).startswith("http://"):
            options["aws_allow_http"] = "true"  # as dlt does for S3-compatible servers
    return options


def filesystem(url: str) -> fsspec.AbstractFileSystem:
    protocol = url.split("://", 1)[0]
    return fsspec.filesystem(protocol, **(storage_options() if protocol != "file" else {}))


def discover(url: str) -> list[LakeTable]:
    """Every data table of every labsync dataset in the lake, with its keys."""
    url = normalise_url(url)
    fs = filesystem(url)
    root = url.split("://", 1)[1]
    if not fs.exists(root):
        raise ConfigurationError(f"no lake at {url}: run `labsync sync --destination filesystem`")
    tables = []
    for dataset_path in sorted(fs.ls(root, detail=False)):
        dataset = dataset_path.rstrip("/").rsplit("/", 1)[-1]
        versions = sorted(fs.glob(f"{dataset_path}/_dlt_version/*.jsonl"))
        if not dataset.startswith("raw_") or not versions:
            continue
        for schema in _latest_schemas(fs, versions).values():
            for name, table in schema["tables"].items():
                files = f"{dataset_path}/{name}"
                if name in DLT_TABLES:
                    continue
                delta = fs.exists(f"{files}/_delta_log")
                if not delta and not fs.glob(f"{files}/*.parquet"):
                    continue
                columns = table.get("columns", {})
                tables.append(
                    LakeTable(
                        dataset=dataset,
                        name=name,
                        glob=f"{url}/{dataset}/{name}"
                        if delta
                        else _scan_path(url, f"{files}/*.parquet"),
                        primary_key=_hinted(columns, "primary_key"),
                        merge_key=_hinted(columns, "merge_key"),
                        hard_delete=_hinted(columns, "hard_delete"),
                        delta=delta,
                    )
                )
    return tables


def _hinted(columns: dict[str, dict[str, Any]], hint: str) -> tuple[str, ...]:
    return tuple(name for name, column in columns.items() if column.get(hint))


def _scan_path(url: str, path: str) -> str:
    """What DuckDB reads: a plain path for local lakes, the URL for object stores."""
    protocol = url.split("://", 1)[0]
    return path if protocol == "file" else f"{protocol}://{path}"


def _latest_schemas(fs: fsspec.AbstractFileSystem, paths: list[str]) -> dict[str, dict[str, Any]]:
    latest: dict[str, tuple[int, dict[str, Any]]] = {}
    for path in paths:
        with fs.open(path, "r", encoding="utf-8") as handle:
            for line in handle:
                if not line.strip():
                    continue
                entry = json.loads(line)
                schema = entry["schema"]
                schema = json.loads(schema) if isinstance(schema, str) else schema
                name, version = entry["schema_name"], int(entry["version"])
                if name not in latest or version >= latest[name][0]:
                    latest[name] = (version, schema)
    return {name: schema for name, (_, schema) in latest.items()}


def delta_files(table: LakeTable) -> list[str]:
    """The Parquet files of the Delta table's current version, as DuckDB reads them.

    Refuses what plain Parquet reads would get wrong: partition values live in the log,
    deletion vectors and column mapping change what the files mean.
    """
    delta = _open_delta(table)
    features = set(delta.protocol().reader_features or [])
    if delta.metadata().partition_columns or features & {"deletionVectors", "columnMapping"}:
        raise ConfigurationError(
            f"Delta table {table.glob} uses partitions, deletion vectors or column mapping, "
            "which labsync's lake views do not read"
        )
    uris = delta.file_uris()
    return [u.removeprefix("file://") if table.glob.startswith("file://") else u for u in uris]


def resolved_sql(table: LakeTable, files: list[str] | None = None) -> str:
    """The table as the DuckDB destination would hold it after the same loads.

    Parquet: Arrow loads carry no `_dlt_load_id` column; dlt names each file
    `<load_id>.<file_id>...`, and load ids are fixed-width epoch seconds, so the file name
    orders the loads. Delta: `files` of the current version, with a `_dlt_load_id` column.
    """
    if table.delta:
        listed = ", ".join("'" + f.replace("'", "''") + "'" for f in files or [])
        scan = (
            f"select * exclude ({LOAD_ID}), {LOAD_ID} as _lake_load_id "
            f"from read_parquet([{listed}], union_by_name = true)"
        )
    else:
        load_id = r"regexp_extract(_lake_file, '(\d+\.\d+)\.[^/]+\.parquet$', 1)"
        scan = (
            f"select * exclude (_lake_file), {load_id} as _lake_load_id "
            f"from read_parquet('{table.glob}', union_by_name = true, filename = '_lake_file')"
        )
    if table.merge_key:  # children: the newest load per parent (their key is within it)
        keys = ", ".join(table.merge_key)
        resolved = (
            f"select * from ({scan}) "
            f"qualify _lake_load_id = max(_lake_load_id) over (partition by {keys})"
        )
    elif table.primary_key:
        keys = ", ".join(table.primary_key)
        resolved = (
            f"select * from ({scan}) "
            f"qualify row_number() over (partition by {keys} order by _lake_load_id desc) = 1"
        )
        if table.hard_delete:
            kept = " and ".join(f"not coalesce({c}, false)" for c in table.hard_delete)
            resolved = f"select * from ({resolved}) where {kept}"
    else:
        resolved = scan
    return f"select * exclude (_lake_load_id) from ({resolved})"


def loaded_rows(url: str, dataset: str, name: str, columns: Sequence[str]) -> list[tuple[Any, ...]]:
    """`columns` of a lake table as the views resolve it; empty when the lake has none.

    What a source reads back (e.g. for reconciliation) on a Delta lake: dlt's own
    `pipeline.dataset()` reads Delta through DuckDB's delta extension, a download.
    """
    url = normalise_url(url)
    table = next((t for t in discover(url) if (t.dataset, t.name) == (dataset, name)), None)
    files = delta_files(table) if table and table.delta else None
    if table is None or (table.delta and not files):
        return []
    with duckdb.connect() as con:
        if not url.startswith("file://"):
            con.register_filesystem(filesystem(url))
        select = ", ".join(f'"{c}"' for c in columns)
        return con.execute(f"select {select} from ({resolved_sql(table, files)})").fetchall()


def attach(con: duckdb.DuckDBPyConnection, url: str) -> list[LakeTable]:
    """Create `raw_<source>.<table>` views over the lake in `con` (replacing older ones)."""
    url = normalise_url(url)
    if not url.startswith("file://"):
        con.register_filesystem(filesystem(url))
    tables = discover(url)
    for table in tables:
        con.execute(f"create schema if not exists {table.dataset}")
        name = f"{table.dataset}.{table.name}"
        files = delta_files(table) if table.delta else None
        if table.delta and not files:  # a Delta table without rows: an empty table, not a view
            _create_empty(con, name, table)
            continue
        con.execute(f"drop table if exists {name}")
        con.execute(f"create or replace view {name} as {resolved_sql(table, files)}")
    logger.info("attached %d lake tables from %s", len(tables), url)
    return tables


def _open_delta(table: LakeTable) -> Any:
    from deltalake import DeltaTable  # the `lake` extra: only Delta lakes need it

    options = {} if table.glob.startswith("file://") else delta_storage_options()
    return DeltaTable(table.glob, storage_options=options)


def _create_empty(con: duckdb.DuckDBPyConnection, name: str, table: LakeTable) -> None:
    schema = pa.schema(_open_delta(table).schema().to_arrow())
    empty = schema.empty_table().drop_columns([c for c in schema.names if c == LOAD_ID])
    con.execute(f"drop view if exists {name}")
    con.register("_lake_empty", empty)
    con.execute(f"create or replace table {name} as select * from _lake_empty")
    con.unregister("_lake_empty")
