"""Build the SQL models in `sql/` as views and run the audits.

Each file holds one `select`; the runner owns materialisation: `sql/staging/*.sql` become views
in schema `staging`, `sql/marts/*.sql` views in schema `analytics`, named after the file.
Dependencies come from the tables each query reads (parsed with sqlglot), so files build in
the right order whatever their names. `sql/audits/*.sql` must each return zero rows.

What a plain view cannot do, the runner does generically:
- config the SQL reads: `[models.metric_directions]` becomes a table
  (`staging.stg_config__metric_directions`);
- dynamic pivots (`pivot t on col using ...` without `in (...)`, which DuckDB refuses in a view)
  get their column list pinned from the data at each build, so new keys become new columns;
- `sql/macros/<name>.sql` holds one `select` using `$parameters`; it becomes the table macro
  `analytics.<name>(parameters...)`.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import duckdb
import sqlglot
from sqlglot import exp

from . import dialects
from .common import progress
from .common.config import config_value
from .common.errors import ConfigurationError, LabsyncError

logger = logging.getLogger("labsync.models")

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"
LAYERS = {"staging": "staging", "marts": "analytics"}
MACRO_SCHEMA = "analytics"
DIRECTIONS_KEY = "models.metric_directions"
DIRECTIONS_TABLE = "staging.stg_config__metric_directions"
DIRECTIONS = ("min", "max")

Fetch = Callable[[str], list[tuple[object, ...]]]  # DuckDB SQL in, rows out


@dataclass(frozen=True)
class Model:
    """One SQL file and the view it becomes."""

    schema: str
    name: str
    path: Path
    sql: str

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"


@dataclass(frozen=True)
class AuditFailure:
    name: str
    rows: int
    sample: list[tuple[object, ...]]


class ModelError(LabsyncError):
    """A model failed to build or an audit found rows."""


def discover(sql_dir: Path = SQL_DIR) -> list[Model]:
    models = []
    for folder, schema in LAYERS.items():
        for path in sorted((sql_dir / folder).rglob("*.sql")):
            if dialects.is_override(path):  # `<model>.<engine>.sql`: read by `dialects`
                continue
            sql = path.read_text(encoding="utf-8").strip().rstrip(";")
            models.append(Model(schema, path.stem, path, sql))
    return models


@functools.lru_cache(maxsize=1024)
def _parsed(sql: str) -> exp.Expression:
    """The syntax tree of `sql`, parsed once per process (a build reads each model's tree
    several times); callers that change a tree work on a `.copy()`."""
    return sqlglot.parse_one(sql, read="duckdb")


def _qualified_tables(tree: exp.Expression) -> set[str]:
    return {f"{table.db}.{table.name}" for table in tree.find_all(exp.Table) if table.db}


def dependencies(model: Model, names: set[str]) -> set[str]:
    tree = _parsed(model.sql)
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    found = set()
    for table in tree.find_all(exp.Table):
        qualified = f"{table.db}.{table.name}" if table.db else table.name
        # a schema-qualified name is never a CTE, even when a CTE is named after it
        if qualified in names and (table.db or table.name not in ctes):
            found.add(qualified)
    return found


def tables_read(sql: str) -> set[str]:
    """Schema-qualified tables and views a query reads (CTE names excluded)."""
    return _qualified_tables(_parsed(sql))


def without_missing_inputs(sql: str, available: set[str]) -> str | None:
    """`sql` with the `union all` branches (and their CTEs) over missing inputs pruned.

    Lets one cross-vendor model (e.g. `llm_datasets`) cover whichever vendors a warehouse
    has. None when the query still needs a missing relation.
    """
    tree = _parsed(sql).copy()
    dead: set[str] = set()
    for cte in list(tree.find_all(exp.CTE)):
        if _qualified_tables(cte.this) - available:
            dead.add(cte.alias_or_name)
            cte.pop()

    def is_dead(branch: exp.Expression) -> bool:
        names = {t.name for t in branch.find_all(exp.Table) if not t.db}
        return bool(names & dead) or bool(_qualified_tables(branch) - available)

    for union in reversed(list(tree.find_all(exp.Union))):
        left, right = union.this, union.expression
        if is_dead(left) != is_dead(right):
            union.replace(right if is_dead(left) else left)
    pruned = tree.sql("duckdb")
    if _qualified_tables(tree) - available or any(
        t.name in dead for t in tree.find_all(exp.Table) if not t.db
    ):
        return None
    return pruned


def metric_direction_overrides(raw: object = None) -> dict[str, str]:
    """`[models.metric_directions]` as {metric: "min" | "max"}, validated.

    `raw` defaults to the config: a TOML table in `.dlt/config.toml`, or a JSON/TOML object in
    the `MODELS__METRIC_DIRECTIONS` env var (per-key env vars cannot be listed).
    """
    if raw is None:
        raw = config_value(DIRECTIONS_KEY)
    if raw is None:
        return {}
    if isinstance(raw, str):
        raw = _parse_table(raw)
    if not isinstance(raw, Mapping):
        raise ConfigurationError(
            f'{DIRECTIONS_KEY} must be a table of metric = "min" | "max", got {type(raw).__name__}'
        )
    overrides = {}
    for metric, direction in raw.items():
        if not isinstance(direction, str) or direction.strip().lower() not in DIRECTIONS:
            raise ConfigurationError(
                f"{DIRECTIONS_KEY}: metric {metric!r} has direction {direction!r}; "
                f'use "min" (lower is better) or "max" (higher is better)'
            )
        overrides[str(metric)] = direction.strip().lower()
    return overrides


def _parse_table(text: str) -> object:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        raise ConfigurationError(
            f"{DIRECTIONS_KEY} must be a JSON object or TOML table, e.g. "
            f'\'{{"my_metric": "min"}}\'; got {text[:80]!r}'
        ) from None


def materialise_config(
    con: duckdb.DuckDBPyConnection, metric_directions: Mapping[str, str]
) -> None:
    """Write the config the models read as small tables (replaced at every build)."""
    con.execute(f"create or replace table {DIRECTIONS_TABLE} (metric varchar, direction varchar)")
    if metric_directions:
        con.executemany(
            f"insert into {DIRECTIONS_TABLE} values (?, ?)", list(metric_directions.items())
        )


def pin_dynamic_pivots(
    con: duckdb.DuckDBPyConnection | None, sql: str, fetch: Fetch | None = None
) -> str:
    """`sql` with each dynamic `pivot ... on col` given the explicit `in (...)` list of the
    values `col` has now (sorted), so the query can be a view. Unchanged without such pivots.
    `fetch` runs a DuckDB query on another engine (default: on `con`).

    A pivot with no values at all becomes the `group by` it would have produced (no value
    columns), or fails when it has no `group by`.
    """

    def dynamic_pivots(tree: exp.Expression) -> list[exp.Pivot]:
        return [
            p
            for p in tree.find_all(exp.Pivot)
            if not p.args.get("unpivot")
            and p.expressions
            and all(isinstance(e, exp.Column) for e in p.expressions)
        ]

    if not dynamic_pivots(_parsed(sql)):
        return sql
    tree = _parsed(sql).copy()
    pivots = dynamic_pivots(tree)
    for pivot in pivots:
        if len(pivot.expressions) > 1:
            on = ", ".join(e.sql("duckdb") for e in pivot.expressions)
            raise ModelError(f"dynamic pivot on several columns ({on}): pivot on one column")
        (column,) = pivot.expressions
        values = _distinct_values(fetch or _fetcher(con), tree, pivot, column)
        if values:
            column.replace(exp.In(this=column.copy(), expressions=[exp.convert(v) for v in values]))
            continue
        group = pivot.args.get("group")
        if group is None:
            on = column.sql("duckdb")
            raise ModelError(f"dynamic pivot on {on} has no values and no group by")
        keys = [e.copy() for e in group.expressions]
        pivot.replace(exp.select(*keys).from_(pivot.this.copy()).group_by(*keys))
    return tree.sql("duckdb")


def _fetcher(con: duckdb.DuckDBPyConnection | None) -> Fetch:
    if con is None:
        raise ValueError("pin_dynamic_pivots needs a connection or a fetch function")
    return lambda sql: con.execute(sql).fetchall()


def _distinct_values(
    fetch: Fetch, tree: exp.Expression, pivot: exp.Pivot, column: exp.Column
) -> list[object]:
    """The values of the pivot's `on` column, read through the CTEs defined before it."""
    query = (
        exp.select(column.copy())
        .distinct()
        .from_(pivot.this.copy())
        .where(exp.Not(this=exp.Is(this=column.copy(), expression=exp.Null())))
        .order_by(column.copy())
    )
    home = pivot.find_ancestor(exp.CTE)
    for cte in tree.ctes if isinstance(tree, exp.Query) else []:
        if cte is home:
            break
        query = query.with_(cte.alias_or_name, cte.this.copy())
    return [row[0] for row in fetch(query.sql("duckdb"))]


def discover_macros(sql_dir: Path = SQL_DIR) -> list[Model]:
    return [
        Model(MACRO_SCHEMA, path.stem, path, path.read_text(encoding="utf-8").strip().rstrip(";"))
        for path in sorted((sql_dir / "macros").glob("*.sql"))
    ]


def macro_sql(model: Model) -> str:
    """`create or replace macro` for a file whose `select` uses `$name` parameters."""
    tree = _parsed(model.sql).copy()
    parameters: list[str] = []
    for placeholder in list(tree.find_all(exp.Placeholder)):
        name = placeholder.name
        if not name.isidentifier():  # `?` and `$1` cannot name a macro parameter
            raise ModelError(f"macro {model.path.name}: use named parameters ($name), not ? or $1")
        if name not in parameters:
            parameters.append(name)
        placeholder.replace(exp.column(name))
    return (
        f"create or replace macro {model.qualified}({', '.join(parameters)}) as table\n"
        f"{tree.sql('duckdb')}"
    )


def existing_relations(con: duckdb.DuckDBPyConnection) -> set[str]:
    rows = con.execute("select table_schema, table_name from information_schema.tables").fetchall()
    return {f"{schema}.{name}" for schema, name in rows}


def build_order(models: list[Model]) -> list[Model]:
    by_name = {m.qualified: m for m in models}
    graph = {m.qualified: dependencies(m, set(by_name)) for m in models}
    try:
        return [by_name[name] for name in TopologicalSorter(graph).static_order()]
    except CycleError as exc:
        raise ModelError(f"models depend on each other in a cycle: {exc.args[1]}") from None


def build(
    con: duckdb.DuckDBPyConnection,
    sql_dir: Path = SQL_DIR,
    metric_directions: Mapping[str, str] | None = None,
) -> list[Model]:
    """Create or replace every view and macro, in dependency order, in one transaction.

    Models over sources never synced into this warehouse (their raw tables are missing) are
    skipped, with everything built on them. `metric_directions` defaults to the config.
    """
    overrides = metric_direction_overrides(metric_directions)  # config errors before any DDL
    progress.phase("models")
    models = build_order(discover(sql_dir))
    macros = discover_macros(sql_dir)
    built: list[Model] = []
    skipped: list[str] = []
    con.execute("begin transaction")
    try:
        for schema in LAYERS.values():
            con.execute(f"create schema if not exists {schema}")
        materialise_config(con, overrides)
        available = existing_relations(con) | {m.qualified for m in models}
        for model in models:
            sql: str | None = model.sql
            missing = tables_read(model.sql) - available
            if missing:
                sql = without_missing_inputs(model.sql, available)
            if sql is None:
                # a source that is not configured: expected, so one summary line at INFO
                logger.debug("skipping %s: no %s here", model.qualified, ", ".join(sorted(missing)))
                skipped.append(model.qualified)
                available.discard(model.qualified)
                continue
            built.append(model)
            try:
                sql = pin_dynamic_pivots(con, sql)
                con.execute(f"create or replace view {model.qualified} as\n{sql}")
            except duckdb.Error as exc:
                raise ModelError(f"model {model.path.name} failed to build: {exc}") from None
        for macro in macros:
            missing = tables_read(macro.sql) - available
            if missing:
                logger.debug("skipping %s: no %s here", macro.qualified, ", ".join(sorted(missing)))
                skipped.append(macro.qualified)
                continue
            built.append(macro)
            try:
                con.execute(macro_sql(macro))
            except duckdb.Error as exc:
                raise ModelError(f"macro {macro.path.name} failed to build: {exc}") from None
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    logger.info(
        "built %d views and macros%s",
        len(built),
        f" ({len(skipped)} skipped: their sources are not synced here)" if skipped else "",
    )
    return built


IMPLIED_BY = re.compile(r"^-- implied by:(.*)$", re.MULTILINE)
AUDIT_NAME = re.compile(r"\b\w+__\w+\b")


@dataclass(frozen=True)
class Audit:
    """One `sql/audits/*.sql` file. `implied_by` (its `-- implied by:` line) names the audits
    that, once passed, make this one pass by construction of the views it reads: None when it
    has no such line, empty when the views' own SQL guarantees it whatever the data."""

    name: str
    sql: str
    implied_by: tuple[str, ...] | None


def discover_audits(sql_dir: Path = SQL_DIR) -> list[Audit]:
    audits = []
    for path in sorted((sql_dir / "audits").glob("*.sql")):
        sql = path.read_text(encoding="utf-8").strip().rstrip(";")
        found = IMPLIED_BY.search(sql)
        implied_by = tuple(AUDIT_NAME.findall(found.group(1))) if found else None
        audits.append(Audit(path.stem, sql, implied_by))
    return audits


def views(con: duckdb.DuckDBPyConnection) -> set[str]:
    rows = con.execute(
        "select table_schema, table_name from information_schema.tables where table_type = 'VIEW'"
    ).fetchall()
    return {f"{schema}.{name}" for schema, name in rows}


def run_audits(con: duckdb.DuckDBPyConnection, sql_dir: Path = SQL_DIR) -> list[AuditFailure]:
    """Every audit whose relations the warehouse has; each must return zero rows.

    An audit with an `-- implied by:` line is not run when every relation it reads is a view
    (built from `sql/`, so its guarantee holds) and the audits it names ran and passed: at 1M
    runs re-checking a mart's key costs seconds of recomputing the mart. A table standing in
    for a view, or a named audit failing or not run, and it runs (its rows are then reported).
    """
    progress.phase("audits")
    failures = []
    available = existing_relations(con)
    built_views = views(con)
    passed: set[str] = set()
    audits = [a for a in discover_audits(sql_dir) if not tables_read(a.sql) - available]
    # the audits others are implied by run first
    for audit in sorted(audits, key=lambda a: a.implied_by is not None):
        if (
            audit.implied_by is not None
            and set(audit.implied_by) <= passed
            and tables_read(audit.sql) <= built_views
        ):
            logger.debug("audit %s: implied by %s", audit.name, ", ".join(audit.implied_by))
            passed.add(audit.name)
            continue
        try:
            rows = con.execute(audit.sql).fetchall()
        except duckdb.Error as exc:
            raise ModelError(f"audit {audit.name} failed to run: {exc}") from None
        if rows:
            failures.append(AuditFailure(audit.name, len(rows), rows[:3]))
            logger.error("audit %s failed: %d rows, e.g. %s", audit.name, len(rows), rows[:3])
        else:
            passed.add(audit.name)
    return failures
