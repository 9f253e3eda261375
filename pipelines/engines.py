"""The analytics views on engines other than DuckDB (Postgres, Spark), from the same `sql/`.

`models.build` drives DuckDB directly; `build` here does the same for an `Engine`: the same
models in the same order, models of sources not synced skipped or pruned the same way,
dynamic pivots pinned from the engine's own data, every file rendered by `dialects`. The
engine decides where the views go (`schemas`: Postgres builds into `<schema>__next` and
swaps) and how its DDL reads.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path

from sqlglot import exp

from . import dialects, models
from .models import SQL_DIR, AuditFailure, Model, ModelError

logger = logging.getLogger("labsync.models")

CONFIG_COLUMNS = (("metric", "varchar"), ("direction", "varchar"))


class Engine(ABC):
    """A SQL engine the views can be built on."""

    dialect: str = ""
    # logical schema (as `sql/` names it) -> the schema this build writes
    schemas: Mapping[str, str] = {}

    @abstractmethod
    def execute(self, sql: str) -> None: ...

    @abstractmethod
    def fetch(self, sql: str) -> list[tuple[object, ...]]: ...

    @abstractmethod
    def relations(self) -> set[str]:
        """Logical `schema.name` of every table and view the build can read."""

    @abstractmethod
    def write_table(
        self, name: str, columns: Sequence[tuple[str, str]], rows: list[tuple[object, ...]]
    ) -> None:
        """Replace table `name` (physical) with `rows`; `columns` typed in DuckDB's names."""

    def create_view(self, name: str, sql: str) -> None:
        self.execute(f"create or replace view {name} as\n{sql}")

    def create_macro(self, macro: Model) -> bool:
        """Create `macro` as the engine's table function; False when it has none."""
        return False

    def physical(self, qualified: str) -> str:
        schema, name = qualified.split(".", 1)
        return f"{self.schemas.get(schema, schema)}.{name}"

    def render(self, sql: str, *, read: str = dialects.SOURCE) -> str:
        return dialects.render(sql, self.dialect, read=read, schemas=self.schemas)

    def fetch_duckdb(self, sql: str) -> list[tuple[object, ...]]:
        """Rows of a DuckDB query (rendered for this engine)."""
        return self.fetch(self.render(sql))


def model_sql(engine: Engine, model: Model, available: set[str]) -> str | None:
    """The model's view query on `engine`, or None when it needs a missing relation."""
    text, read = dialects.source_for(model.path, model.sql, engine.dialect)
    if read != dialects.SOURCE:  # an override, in the engine's own SQL
        tree = dialects.parse(text, read)
        missing = {f"{t.db}.{t.name}" for t in tree.find_all(exp.Table) if t.db} - available
        if missing:
            return None
        # verbatim unless schemas are renamed: sqlglot's round trip can lose engine functions
        return engine.render(text, read=read) if engine.schemas else text
    sql: str | None = text
    if models.tables_read(text) - available:
        sql = models.without_missing_inputs(text, available)
    if sql is None:
        return None
    return engine.render(models.pin_dynamic_pivots(None, sql, fetch=engine.fetch_duckdb))


def build(
    engine: Engine,
    sql_dir: Path = SQL_DIR,
    metric_directions: Mapping[str, str] | None = None,
) -> list[Model]:
    """Create every view (and macro the engine supports) in dependency order."""
    overrides = models.metric_direction_overrides(metric_directions)
    ordered = models.build_order(models.discover(sql_dir))
    for schema in models.LAYERS.values():
        engine.execute(f"create schema if not exists {engine.schemas.get(schema, schema)}")
    engine.write_table(
        engine.physical(models.DIRECTIONS_TABLE), CONFIG_COLUMNS, list(overrides.items())
    )
    available = engine.relations() | {m.qualified for m in ordered}
    available.add(models.DIRECTIONS_TABLE)
    built: list[Model] = []
    skipped: list[str] = []
    for model in ordered:
        try:
            sql = model_sql(engine, model, available)
            if sql is None:
                skipped.append(model.qualified)
                available.discard(model.qualified)
                continue
            engine.create_view(engine.physical(model.qualified), sql)
        except (dialects.UnsupportedSQL, ModelError) as exc:
            raise ModelError(f"model {model.path.name} on {engine.dialect}: {exc}") from None
        except Exception as exc:  # the driver's own error types differ per engine
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelError(
                f"model {model.path.name} failed to build on {engine.dialect}: {first}"
            ) from None
        built.append(model)
    for macro in models.discover_macros(sql_dir):
        if models.tables_read(macro.sql) - available or not engine.create_macro(macro):
            skipped.append(macro.qualified)
            continue
        built.append(macro)
    logger.info(
        "built %d views%s on %s",
        len(built),
        f" ({len(skipped)} skipped)" if skipped else "",
        engine.dialect,
    )
    return built


def run_audits(engine: Engine, sql_dir: Path = SQL_DIR) -> list[AuditFailure]:
    """Every audit whose relations the engine has; each must return zero rows."""
    failures = []
    available = engine.relations()
    for path in sorted((sql_dir / "audits").glob("*.sql")):
        sql = path.read_text(encoding="utf-8").strip().rstrip(";")
        if models.tables_read(sql) - available:
            continue
        try:
            rows = engine.fetch(engine.render(sql))
        except dialects.UnsupportedSQL as exc:
            raise ModelError(f"audit {path.stem} on {engine.dialect}: {exc}") from None
        except Exception as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelError(
                f"audit {path.stem} failed to run on {engine.dialect}: {first}"
            ) from None
        if rows:
            failures.append(AuditFailure(path.stem, len(rows), rows[:3]))
            logger.error(
                "audit %s failed on %s: %d rows, e.g. %s",
                path.stem,
                engine.dialect,
                len(rows),
                rows[:3],
            )
    return failures
