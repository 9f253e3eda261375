"""Build the SQL models in `sql/` as views and run the audits.

Each file holds one `select`; the runner owns materialisation: `sql/staging/*.sql` become views
in schema `staging`, `sql/marts/*.sql` views in schema `analytics`, named after the file.
Dependencies come from the tables each query reads (parsed with sqlglot), so files build in
the right order whatever their names. `sql/audits/*.sql` must each return zero rows.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import duckdb
import sqlglot
from sqlglot import exp

from .common.errors import LabsyncError

logger = logging.getLogger("labsync.models")

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"
LAYERS = {"staging": "staging", "marts": "analytics"}


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
            sql = path.read_text(encoding="utf-8").strip().rstrip(";")
            models.append(Model(schema, path.stem, path, sql))
    return models


def dependencies(model: Model, names: set[str]) -> set[str]:
    tree = sqlglot.parse_one(model.sql, read="duckdb")
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    found = set()
    for table in tree.find_all(exp.Table):
        qualified = f"{table.db}.{table.name}" if table.db else table.name
        if qualified in names and table.name not in ctes:
            found.add(qualified)
    return found


def tables_read(sql: str) -> set[str]:
    """Schema-qualified tables and views a query reads (CTE names excluded)."""
    tree = sqlglot.parse_one(sql, read="duckdb")
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    return {
        f"{table.db}.{table.name}"
        for table in tree.find_all(exp.Table)
        if table.db and table.name not in ctes
    }


def without_missing_inputs(sql: str, available: set[str]) -> str | None:
    """`sql` with the `union all` branches (and their CTEs) over missing inputs pruned.

    Lets one cross-vendor model (e.g. `llm_datasets`) cover whichever vendors a warehouse
    has. None when the query still needs a missing relation.
    """
    tree = sqlglot.parse_one(sql, read="duckdb")
    dead: set[str] = set()
    for cte in list(tree.find_all(exp.CTE)):
        if tables_read(cte.this.sql("duckdb")) - available:
            dead.add(cte.alias_or_name)
            cte.pop()

    def is_dead(branch: exp.Expression) -> bool:
        names = {t.name for t in branch.find_all(exp.Table) if not t.db}
        return bool(names & dead) or bool(tables_read(branch.sql("duckdb")) - available)

    for union in reversed(list(tree.find_all(exp.Union))):
        left, right = union.this, union.expression
        if is_dead(left) != is_dead(right):
            union.replace(right if is_dead(left) else left)
    pruned = tree.sql("duckdb")
    if tables_read(pruned) - available or any(
        t.name in dead for t in tree.find_all(exp.Table) if not t.db
    ):
        return None
    return pruned


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


def build(con: duckdb.DuckDBPyConnection, sql_dir: Path = SQL_DIR) -> list[Model]:
    """Create or replace every view, in dependency order, in one transaction.

    Models over sources never synced into this warehouse (their raw tables are missing) are
    skipped, with everything built on them.
    """
    models = build_order(discover(sql_dir))
    available = existing_relations(con) | {m.qualified for m in models}
    built: list[Model] = []
    con.execute("begin transaction")
    try:
        for schema in LAYERS.values():
            con.execute(f"create schema if not exists {schema}")
        for model in models:
            sql: str | None = model.sql
            missing = tables_read(model.sql) - available
            if missing:
                sql = without_missing_inputs(model.sql, available)
            if sql is None:
                logger.info("skipping %s: no %s here", model.qualified, ", ".join(sorted(missing)))
                available.discard(model.qualified)
                continue
            built.append(model)
            try:
                con.execute(f"create or replace view {model.qualified} as\n{sql}")
            except duckdb.Error as exc:
                raise ModelError(f"model {model.path.name} failed to build: {exc}") from None
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    logger.info("built %d views", len(built))
    return built


def run_audits(con: duckdb.DuckDBPyConnection, sql_dir: Path = SQL_DIR) -> list[AuditFailure]:
    failures = []
    available = existing_relations(con)
    for path in sorted((sql_dir / "audits").glob("*.sql")):
        sql = path.read_text(encoding="utf-8").strip().rstrip(";")
        if tables_read(sql) - available:  # audits a source this warehouse does not have
            continue
        try:
            rows = con.execute(sql).fetchall()
        except duckdb.Error as exc:
            raise ModelError(f"audit {path.stem} failed to run: {exc}") from None
        if rows:
            failures.append(AuditFailure(path.stem, len(rows), rows[:3]))
            logger.error("audit %s failed: %d rows, e.g. %s", path.stem, len(rows), rows[:3])
    return failures
