"""Postgres as the warehouse: dlt's postgres destination loads `raw_<source>`, the views are
built beside them from the same `sql/` files (rendered by `dialects`).

Credentials are dlt's: `DESTINATION__POSTGRES__CREDENTIALS` (a `postgresql://` URL) or
`[destination.postgres.credentials]` in `.dlt/secrets.toml`; labsync names the server as
`user@host:port/database`, never with the password.

Readers never see a half-built `analytics`: a build writes `staging__next` and
`analytics__next`, runs the audits there, then one transaction drops the old schemas and
renames the new ones (views are bound to the relations they read, not to names, so they
survive the rename). The writer lock is a session advisory lock on the server, so two
syncs from different machines cannot interleave either. dlt's state and the sync history
live beside the local warehouse path (`postgres-<digest>.duckdb`), like a lake's.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlglot import exp

from . import dialects, engines, history, models
from .common.errors import ConfigurationError
from .warehouse import WarehouseBusy

logger = logging.getLogger("labsync")

LOCK_KEY = 0x6C616273796E63  # "labsync": the advisory lock every labsync writer takes
NEXT = "__next"
PG_TYPES = {"varchar": "text", "double": "double precision", "bigint": "bigint"}


@dataclass(frozen=True)
class Target:
    """A Postgres server and database, from dlt's credentials."""

    credentials: Any  # dlt's PostgresCredentials

    @property
    def name(self) -> str:
        c = self.credentials
        return f"{c.username}@{c.host}:{c.port or 5432}/{c.database}"

    def local_anchor(self, warehouse: Path) -> Path:
        """Where this database's dlt state, lock file and history live on this machine."""
        digest = hashlib.sha1(self.name.encode()).hexdigest()[:10]
        return warehouse.parent / f"postgres-{digest}.duckdb"

    def destination(self) -> Any:
        import dlt

        return dlt.destinations.postgres(credentials=self.credentials)

    def connect(self) -> Any:
        """A psycopg2 connection; a bad host, port, user or password is a ConfigurationError."""
        try:
            import psycopg2
        except ImportError:
            raise ConfigurationError(
                "Postgres needs the postgres extra: pip install 'labsync[postgres]'"
            ) from None
        c = self.credentials
        try:
            con = psycopg2.connect(
                host=c.host,
                port=c.port or 5432,
                user=c.username,
                password=c.password,
                dbname=c.database,
                connect_timeout=int(getattr(c, "connect_timeout", 15) or 15),
                application_name="labsync",
            )
        except psycopg2.OperationalError as exc:
            reason = _first_line(exc).removeprefix("FATAL:").strip()
            raise ConfigurationError(f"cannot connect to Postgres {self.name}: {reason}") from None
        con.autocommit = True
        with con.cursor() as cur:
            cur.execute("set timezone = 'UTC'")
        return con


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def target() -> Target:
    """The configured Postgres, checked reachable (before any API request)."""
    found = configured()
    found.connect().close()
    return found


def configured() -> Target:
    """The Postgres dlt's credentials name (not contacted)."""
    from dlt.common.configuration import resolve_configuration
    from dlt.common.configuration.exceptions import ConfigurationException

    try:
        from dlt.destinations.impl.postgres.configuration import PostgresCredentials
    except ImportError:  # pragma: no cover - dlt ships it; psycopg2 is the extra
        raise ConfigurationError("Postgres needs dlt's postgres destination") from None
    try:
        credentials = resolve_configuration(
            PostgresCredentials(), sections=("destination", "postgres", "credentials")
        )
    except ConfigurationException:
        raise ConfigurationError(
            "--destination postgres needs credentials: DESTINATION__POSTGRES__CREDENTIALS="
            "postgresql://user:password@host:5432/database, or "
            "[destination.postgres.credentials] in .dlt/secrets.toml"
        ) from None
    return Target(credentials)


@contextmanager
def writer_lock(found: Target) -> Iterator[None]:
    """Hold the database's labsync writer lock (a session advisory lock) or raise
    `WarehouseBusy` naming the process that holds it."""
    con = found.connect()
    try:
        with con.cursor() as cur:
            cur.execute("select pg_try_advisory_lock(%s)", [LOCK_KEY])
            (taken,) = cur.fetchone()
            if not taken:
                cur.execute(
                    "select a.application_name, a.client_addr, a.pid from pg_locks l "
                    "join pg_stat_activity a using (pid) where l.locktype = 'advisory' "
                    "and l.objid = %s and l.granted",
                    [LOCK_KEY & 0xFFFFFFFF],
                )
                holder = cur.fetchone()
                who = f"{holder[0]} (pid {holder[2]} from {holder[1]})" if holder else "another"
                raise WarehouseBusy(
                    f"Postgres {found.name} is locked by {who}; not starting a second sync"
                )
        yield
    finally:
        con.close()  # ends the session: the lock goes with it


class PostgresEngine(engines.Engine):
    dialect = "postgres"

    def __init__(self, con: Any, schemas: Mapping[str, str] | None = None) -> None:
        self.con = con
        self.schemas = dict(schemas or {})

    def execute(self, sql: str) -> None:
        with self.con.cursor() as cur:
            cur.execute(sql)

    def fetch(self, sql: str) -> list[tuple[object, ...]]:
        with self.con.cursor() as cur:
            cur.execute(sql)
            return list(cur.fetchall())

    def relations(self) -> set[str]:
        logical = {physical: name for name, physical in self.schemas.items()}
        found = set()
        for schema, name in self.fetch(
            "select table_schema, table_name from information_schema.tables"
        ):
            if schema in self.schemas and schema not in logical:
                continue  # the published schemas a build replaces are not its inputs
            found.add(f"{logical.get(str(schema), schema)}.{name}")
        return found

    def write_table(
        self, name: str, columns: Sequence[tuple[str, str]], rows: list[tuple[object, ...]]
    ) -> None:
        from psycopg2.extras import execute_values

        typed = ", ".join(f"{c} {PG_TYPES.get(t, t)}" for c, t in columns)
        with self.con.cursor() as cur:
            # emptied, not dropped: the published views depend on it until the swap
            cur.execute(f"create table if not exists {name} ({typed})")
            cur.execute(f"truncate {name}")
            if rows:
                execute_values(cur, f"insert into {name} values %s", rows)

    def create_view(self, name: str, sql: str) -> None:
        self.execute(f"create view {name} as\n{sql}")

    def create_macro(self, macro: Model) -> bool:
        """A SQL function returning the macro's table, its columns typed by a probe view."""
        tree = dialects.parse(macro.sql)
        parameters: dict[str, str] = {}
        for placeholder in tree.find_all(exp.Placeholder):  # typed by a cast, else text
            cast = placeholder.parent if isinstance(placeholder.parent, exp.Cast) else None
            if cast or placeholder.name not in parameters:
                parameters[placeholder.name] = cast.to.sql("postgres") if cast else "text"
        probe = tree.copy()
        for placeholder in list(probe.find_all(exp.Placeholder)):
            placeholder.replace(
                exp.cast(exp.Null(), exp.DataType.build(parameters[placeholder.name], "postgres"))
            )
        body = tree.copy()
        for placeholder in list(body.find_all(exp.Placeholder)):
            placeholder.replace(exp.column(placeholder.name))
        name = self.physical(macro.qualified)
        probe_view = f"{name}__probe"
        self.create_view(probe_view, self.render(probe.sql(dialects.SOURCE)))
        schema, view = probe_view.split(".", 1)
        columns = self.fetch(
            "select a.attname, format_type(a.atttypid, a.atttypmod) from pg_attribute a "
            f"join pg_class c on a.attrelid = c.oid join pg_namespace n on c.relnamespace = n.oid "
            f"where n.nspname = '{schema}' and c.relname = '{view}' and a.attnum > 0 "
            "order by a.attnum"
        )
        self.execute(f"drop view {probe_view}")
        returns = ", ".join(f'"{c}" {t}' for c, t in columns)
        arguments = ", ".join(f"{p} {t}" for p, t in parameters.items())
        self.execute(
            f"create function {name}({arguments}) returns table ({returns}) "
            f"language sql stable as $labsync$\n{self.render(body.sql(dialects.SOURCE))}\n"
            "$labsync$"
        )
        return True


Model = models.Model


def build_views(
    found: Target,
    records: list[history.SyncRunRecord],
    metric_directions: Mapping[str, str] | None = None,
    *,
    publish_on_audit_failure: bool = False,
) -> list[models.AuditFailure]:
    """Build `staging` and `analytics` beside the raw tables, audit them, swap them in.

    A failed audit keeps the published schemas as they were (unless
    `publish_on_audit_failure`); the new views stay in the `*__next` schemas for inspection.
    """
    con = found.connect()
    try:
        _write_history(PostgresEngine(con), records)
        schemas = {s: s + NEXT for s in models.LAYERS.values()}
        engine = PostgresEngine(con, schemas)
        con.autocommit = False
        with con.cursor() as cur:
            for physical in schemas.values():
                cur.execute(f"drop schema if exists {physical} cascade")
        engines.build(engine, metric_directions=metric_directions)
        failures = engines.run_audits(engine)
        if failures and not publish_on_audit_failure:
            con.commit()
            logger.error(
                "audits failed: the views in Postgres %s keep their last state; the new ones "
                "are in %s",
                found.name,
                ", ".join(schemas.values()),
            )
            return failures
        with con.cursor() as cur:  # the swap: readers see the old views or the new ones
            for logical, physical in schemas.items():
                cur.execute(f"drop schema if exists {logical} cascade")
                cur.execute(f"alter schema {physical} rename to {logical}")
        con.commit()
        logger.info("published the views in Postgres %s", found.name)
        return failures
    except BaseException:
        con.rollback()
        raise
    finally:
        con.close()


def _write_history(engine: PostgresEngine, records: list[history.SyncRunRecord]) -> None:
    columns = [(f.name, _pg_type(f.type)) for f in history.ARROW_SCHEMA]
    rows = [tuple(getattr(r, name) for name, _ in columns) for r in records]
    engine.execute(f"create schema if not exists {history.HISTORY_SCHEMA}")
    engine.write_table(f"{history.HISTORY_SCHEMA}.{history.HISTORY_TABLE}", columns, rows)


def _pg_type(arrow_type: Any) -> str:
    import pyarrow as pa

    if pa.types.is_timestamp(arrow_type):
        return "timestamptz"
    if pa.types.is_integer(arrow_type):
        return "bigint"
    return "text"
