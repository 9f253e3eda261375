"""`search_runs()`: MLflow's run search over the warehouse, as a pandas DataFrame.

Reads `analytics.runs_wide` (one row per run: `run_id, project_id, run_name, status,
start_time, end_time, ...`, then `metrics.<key>` (latest value), `params.<key>`, `tags.<key>`),
with MLflow's filter grammar:

    metrics.accuracy > 0.9 and params.optimizer = 'adam' and tags.model LIKE 'gpt%'
        and attributes.status = 'FINISHED'

- comparisons joined by AND (MLflow has no OR); keywords are case-insensitive;
- identifiers `metrics.<key>`, `params.<key>`, `tags.<key>`, `attributes.<name>` (also MLflow's
  `metric.`, `param.`, `tag.`, `attribute.`, `attr.`, `run.` spellings, or a bare attribute
  name); keys with other characters quoted: ``metrics.`val acc` `` or `tags."my tag"`;
- metrics compare numbers (`= != <> < <= > >=`); params and tags compare quoted strings
  (`= != <> LIKE ILIKE`, `IN (...)`, `NOT IN (...)`); any identifier also takes `IS [NOT] NULL`;
- attributes: `status` (Model Lab names, or MLflow's FINISHED, FAILED, KILLED, RUNNING,
  SCHEDULED under every operator, LIKE included), `run_id`, `run_name`, `project_id` (alias
  `experiment_id`), `parent_run_id`, `artifact_uri`, `user_id` (the `mlflow.user` tag, else
  the run's owner id), `start_time` (alias `created`) / `end_time` (milliseconds since the
  epoch, as in MLflow, or a quoted ISO timestamp);
- MLflow's statuses of Model Lab's: completed is FINISHED, failed FAILED, killed KILLED,
  pending SCHEDULED, and running, paused and unresponsive are all RUNNING (a paused or
  unresponsive run has not ended: MLflow has no other name for a live run);
- order_by ties fall back as in MLflow: `start_time DESC`, then `run_id`;
- a key no run has matches nothing (as in MLflow), and is logged.

A malformed filter raises `InvalidFilter` naming the offending token and its position.
"""

from __future__ import annotations

import logging
import os
import re
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from .common.errors import ConfigurationError, LabsyncError
from .warehouse import connect, table_exists, warehouse_path

logger = logging.getLogger("labsync.search")

RUNS_WIDE = "analytics.runs_wide"
DEFAULT_MAX_RESULTS = 100_000  # MLflow's default, "to avoid OOM"
ENTITIES = {
    "metric": "metrics",
    "metrics": "metrics",
    "param": "params",
    "params": "params",
    "parameter": "params",
    "parameters": "params",
    "tag": "tags",
    "tags": "tags",
    "attribute": "attributes",
    "attributes": "attributes",
    "attr": "attributes",
    "run": "attributes",
}
# attribute -> (column in runs_wide, kind)
ATTRIBUTES = {
    "run_id": ("run_id", "id"),
    "run_name": ("run_name", "string"),
    "status": ("status", "status"),
    "project_id": ("project_id", "id"),
    "experiment_id": ("project_id", "id"),
    "parent_run_id": ("parent_run_id", "id"),
    "artifact_uri": ("artifact_uri", "string"),
    "start_time": ("start_time", "time"),
    "created": ("start_time", "time"),  # MLflow's alias
    "end_time": ("end_time", "time"),
    "user_id": ("user_id", "user"),
}
STATUSES = ("pending", "running", "paused", "unresponsive", "completed", "failed", "killed")
# MLflow's status of each Model Lab status: paused and unresponsive runs are live, so RUNNING
MLFLOW_STATUS_OF = {
    "pending": "SCHEDULED",
    "running": "RUNNING",
    "paused": "RUNNING",
    "unresponsive": "RUNNING",
    "completed": "FINISHED",
    "failed": "FAILED",
    "killed": "KILLED",
}
MLFLOW_STATUSES = {
    mlflow: tuple(s for s in STATUSES if MLFLOW_STATUS_OF[s] == mlflow)
    for mlflow in dict.fromkeys(MLFLOW_STATUS_OF.values())
}
MLFLOW_STATUS_SQL = (
    "case status "
    + " ".join(f"when '{s}' then '{m}'" for s, m in MLFLOW_STATUS_OF.items())
    + " end"
)
# MLflow's user_id: the run's `mlflow.user` tag, else its owner in Model Lab
USER_ID_SQL = (
    "select runs.run_id, coalesce(tags.value, cast(runs.owner_id as varchar)) as user_id "
    "from analytics.model_lab_runs as runs left join analytics.model_lab_run_tags as tags "
    "on tags.run_id = runs.run_id and tags.key = 'mlflow.user'"
)
NUMBER_OPS = ("=", "!=", "<>", "<", "<=", ">", ">=")
STRING_OPS = ("=", "!=", "<>", "LIKE", "ILIKE")
OPERATORS = {
    "metrics": NUMBER_OPS,
    "id": NUMBER_OPS,
    "time": NUMBER_OPS,
    "params": STRING_OPS,
    "tags": STRING_OPS,
    "string": STRING_OPS,
    "status": STRING_OPS,
    "user": STRING_OPS,
}

Quote = Callable[[str], str]
_SPACE = re.compile(r"\s+")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_KEY = re.compile(r"[\w.\-/:@]+")
_OPERATOR = re.compile(r"<=|>=|!=|<>|=|<|>")
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


class InvalidFilter(LabsyncError, ValueError):
    """A filter or order_by string that does not follow MLflow's grammar."""

    def __init__(self, message: str, text: str, position: int) -> None:
        token = _token_at(text, position)
        where = f"at position {position}, near {token!r}" if token else "at the end"
        super().__init__(f"invalid filter {where}: {message} (in {text!r})")
        self.token = token
        self.position = position


def _token_at(text: str, position: int) -> str:
    rest = text[position:].lstrip()
    match = re.match(r"`[^`]*`?|\"[^\"]*\"?|'[^']*'?|[\w.\-/:@%]+|\S", rest)
    return match.group(0) if match else ""


@dataclass(frozen=True)
class Identifier:
    entity: str  # metrics | params | tags | attributes
    key: str
    position: int

    @property
    def text(self) -> str:
        return f"{self.entity}.{self.key}"

    @property
    def kind(self) -> str:
        return ATTRIBUTES[self.key][1] if self.entity == "attributes" else self.entity

    @property
    def column(self) -> str:
        return ATTRIBUTES[self.key][0] if self.entity == "attributes" else self.text


@dataclass(frozen=True)
class Comparison:
    identifier: Identifier
    operator: str  # one of the operators, or IN, NOT IN, IS NULL, IS NOT NULL
    values: tuple[object, ...]


class _Parser:
    """Recursive descent over the raw text: quoting rules depend on the position."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, message: str, position: int | None = None) -> InvalidFilter:
        return InvalidFilter(message, self.text, self.pos if position is None else position)

    def skip_space(self) -> None:
        match = _SPACE.match(self.text, self.pos)
        if match:
            self.pos = match.end()

    def at_end(self) -> bool:
        self.skip_space()
        return self.pos >= len(self.text)

    def keyword(self, *words: str) -> str | None:
        """Consume one of `words` (case-insensitive, whole word) if it comes next."""
        self.skip_space()
        match = _WORD.match(self.text, self.pos)
        if match and match.group(0).upper() in words:
            self.pos = match.end()
            return match.group(0).upper()
        return None

    def quoted(self, quote: str) -> str:
        end = self.text.find(quote, self.pos + 1)
        if end < 0:
            raise self.fail(f"unterminated quote ({quote})")
        value = self.text[self.pos + 1 : end]
        self.pos = end + 1
        return value

    def identifier(self) -> Identifier:
        self.skip_space()
        start = self.pos
        match = _WORD.match(self.text, self.pos)
        if not match:
            raise self.fail("expected an identifier such as metrics.accuracy or params.optimizer")
        word = match.group(0)
        self.pos = match.end()
        if self.text.startswith(".", self.pos):
            entity = ENTITIES.get(word.lower())
            if entity is None:
                raise self.fail(
                    f"unknown entity {word!r}: use metrics., params., tags. or attributes.",
                    start,
                )
            self.pos += 1
            if self.pos < len(self.text) and self.text[self.pos] in "`\"'":
                key = self.quoted(self.text[self.pos])
            else:
                key_match = _KEY.match(self.text, self.pos)
                if not key_match:
                    raise self.fail(f"expected a key after {word}.")
                key = key_match.group(0)
                self.pos = key_match.end()
            if not key:
                raise self.fail(f"empty key after {word}.", start)
        else:
            entity, key = "attributes", word  # a bare name is an attribute, as in MLflow
        if entity == "attributes":
            key = key.lower()
            if key not in ATTRIBUTES:
                raise self.fail(
                    f"unknown attribute {key!r}: use one of {', '.join(sorted(ATTRIBUTES))}",
                    start,
                )
        return Identifier(entity, key, start)

    def value(self, identifier: Identifier, operator: str) -> object:
        self.skip_space()
        start = self.pos
        if self.pos >= len(self.text):
            raise self.fail(f"expected a value after {identifier.text}")
        char = self.text[self.pos]
        if char in "'\"":
            text = self.quoted(char)
            if identifier.kind == "status" and operator not in ("LIKE", "ILIKE"):
                return self.status(text, start)
            return self.typed(identifier, text, start, quoted=True)
        number = _NUMBER.match(self.text, self.pos)
        if number:
            self.pos = number.end()
            return self.typed(identifier, number.group(0), start, quoted=False)
        raise self.fail(f"expected a number or a quoted string after {identifier.text}")

    def typed(self, identifier: Identifier, text: str, start: int, *, quoted: bool) -> object:
        kind = identifier.kind
        if kind == "metrics":
            if quoted:
                raise self.fail(f"{identifier.text} is a number: write it unquoted", start)
            return float(text)
        if kind == "id":
            try:
                return int(text)
            except ValueError:
                raise self.fail(
                    f"{identifier.text} is an integer id, got {text!r}", start
                ) from None
        if kind == "time":
            if not quoted:
                return datetime.fromtimestamp(float(text) / 1000, UTC)  # MLflow: ms epoch
            try:
                moment = datetime.fromisoformat(text)
            except ValueError:
                raise self.fail(
                    f"{identifier.text} takes milliseconds since the epoch or an ISO timestamp",
                    start,
                ) from None
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        if not quoted:
            raise self.fail(f"{identifier.text} is a string: quote the value, e.g. '{text}'", start)
        return text

    def comparison(self) -> Comparison:
        identifier = self.identifier()
        self.skip_space()
        op_start = self.pos
        if self.keyword("IS"):
            negated = self.keyword("NOT")
            if not self.keyword("NULL"):
                raise self.fail("expected NULL after IS" + (" NOT" if negated else ""))
            return Comparison(identifier, "IS NOT NULL" if negated else "IS NULL", ())
        negated = self.keyword("NOT")
        if self.keyword("IN"):
            return self.in_list(identifier, "NOT IN" if negated else "IN", op_start)
        if negated:
            raise self.fail("expected IN after NOT", op_start)
        operator = self.keyword("LIKE", "ILIKE")
        if operator is None:
            match = _OPERATOR.match(self.text, self.pos)
            if not match:
                raise self.fail(f"expected a comparison operator after {identifier.text}")
            operator = match.group(0)
            self.pos = match.end()
        if operator not in OPERATORS[identifier.kind]:
            allowed = ", ".join(OPERATORS[identifier.kind])
            raise self.fail(
                f"{identifier.text} does not take {operator}; it takes {allowed}", op_start
            )
        return Comparison(identifier, operator, (self.value(identifier, operator),))

    def in_list(self, identifier: Identifier, operator: str, op_start: int) -> Comparison:
        if identifier.kind in ("metrics", "time"):
            raise self.fail(f"{identifier.text} does not take {operator}", op_start)
        self.skip_space()
        if not self.text.startswith("(", self.pos):
            raise self.fail(f"expected ( after {operator}")
        self.pos += 1
        values = [self.value(identifier, operator)]
        while True:
            self.skip_space()
            if self.text.startswith(",", self.pos):
                self.pos += 1
                values.append(self.value(identifier, operator))
            elif self.text.startswith(")", self.pos):
                self.pos += 1
                break
            else:
                raise self.fail(f"expected , or ) in the {operator} list")
        return Comparison(identifier, operator, tuple(values))

    def status(self, value: str, position: int) -> tuple[str, ...]:
        """The Model Lab statuses a status value stands for: a Model Lab name itself, an
        MLflow name (any case) every status it covers (RUNNING: running, paused, unresponsive)."""
        if value in STATUSES:
            return (value,)
        if value.upper() in MLFLOW_STATUSES:
            return MLFLOW_STATUSES[value.upper()]
        if value.lower() in STATUSES:
            return (value.lower(),)
        names = ", ".join([*STATUSES, *MLFLOW_STATUSES])
        raise self.fail(f"unknown status {value!r}: use one of {names}", position)

    def parse_filter(self) -> list[Comparison]:
        comparisons: list[Comparison] = []
        if self.at_end():
            return comparisons
        while True:
            comparisons.append(self.comparison())
            if self.at_end():
                return comparisons
            before = self.pos
            if self.keyword("OR"):
                raise self.fail("OR is not supported: MLflow's grammar joins with AND only", before)
            if not self.keyword("AND"):
                raise self.fail("expected AND between comparisons")

    def parse_order(self) -> tuple[Identifier, bool]:
        identifier = self.identifier()
        direction = self.keyword("ASC", "DESC")
        if not self.at_end():
            raise self.fail("expected ASC or DESC at the end of an order_by item")
        return identifier, direction == "DESC"


def parse_filter(filter_string: str | None) -> list[Comparison]:
    """The comparisons of an MLflow filter string (empty for None or blank)."""
    return _Parser(filter_string or "").parse_filter()


def parse_order_by(item: str) -> tuple[Identifier, bool]:
    """`"metrics.rmse DESC"` -> (identifier, descending)."""
    return _Parser(item).parse_order()


def _quote(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'


def _backquote(column: str) -> str:  # Spark SQL
    return "`" + column.replace("`", "``") + "`"


# the long table behind each entity's runs_wide columns, and its value column
LONG_TABLES = {
    "metrics": ("analytics.model_lab_run_metrics", "latest"),
    "params": ("analytics.model_lab_run_params", "value"),
    "tags": ("analytics.model_lab_run_tags", "value"),
}


def _condition(
    comparison: Comparison, columns: set[str], params: list[object], quote: Quote = _quote
) -> str:
    """SQL for one comparison over runs_wide.

    Metric, param and tag comparisons become semi-joins on the long tables: the same rows as
    comparing the runs_wide column, but DuckDB pushes them below the pivots, so only the
    matching runs get pivoted (seconds instead of tens of seconds at 1M runs).
    """
    identifier = comparison.identifier
    operator = "!=" if comparison.operator == "<>" else comparison.operator
    if identifier.kind == "status" and operator not in ("IS NULL", "IS NOT NULL"):
        return _status_condition(operator, comparison.values, params)
    if identifier.kind == "user":
        target = f"run_id in (select run_id from ({USER_ID_SQL}) where user_id"
        if operator == "IS NULL":
            return f"run_id not in (select run_id from ({USER_ID_SQL}) where user_id is not null)"
        if operator in ("IS NOT NULL",):
            return f"{target} {operator})"
        params.extend(comparison.values)
        if operator in ("IN", "NOT IN"):
            return f"{target} {operator} ({', '.join('?' * len(comparison.values))}))"
        return f"{target} {operator} ?)"
    if identifier.kind in LONG_TABLES:
        if identifier.column not in columns and operator != "IS NULL":
            logger.warning("no run has %s: the comparison matches nothing", identifier.text)
        table, value = LONG_TABLES[identifier.kind]
        params.append(identifier.key)
        if operator == "IS NULL":
            return (
                f"run_id not in (select run_id from {table} where key = ? and {value} is not null)"
            )
        target = f"run_id in (select run_id from {table} where key = ? and {value}"
    else:
        target = f"({quote(identifier.column)}"
    if operator in ("IS NULL", "IS NOT NULL"):
        return f"{target} {operator})"
    params.extend(comparison.values)
    if operator in ("IN", "NOT IN"):
        return f"{target} {operator} ({', '.join('?' * len(comparison.values))}))"
    return f"{target} {operator} ?)"


def _status_condition(operator: str, values: tuple[object, ...], params: list[object]) -> str:
    """Status under every operator, in Model Lab's names or MLflow's: LIKE and ILIKE match
    either name of a run's status (`'FIN%'` finds completed runs, `'comp%'` too)."""
    if operator in ("LIKE", "ILIKE"):
        params.extend([values[0], values[0]])
        return f"(status {operator} ? or {MLFLOW_STATUS_SQL} {operator} ?)"
    statuses = [s for value in values for s in value]  # type: ignore[attr-defined]
    params.extend(statuses)
    negated = "not in" if operator in ("!=", "NOT IN") else "in"
    return f"(status {negated} ({', '.join('?' * len(statuses))}))"


def _order_column(identifier: Identifier, quote: Quote) -> str:
    if identifier.kind == "user":
        return f"(select user_id from ({USER_ID_SQL}) as users where users.run_id = runs.run_id)"
    return quote(identifier.column)


def build_query(
    filter_string: str | None,
    order_by: Sequence[str] | None,
    max_results: int,
    columns: Iterable[str],
    project_ids: Sequence[int] | None = None,
    include_deleted: bool = False,
    quote: Quote = _quote,
) -> tuple[str, list[object]]:
    """The SQL (over `analytics.runs_wide`) and its parameters for a search."""
    available = set(columns)
    params: list[object] = []
    conditions = [_condition(c, available, params, quote) for c in parse_filter(filter_string)]
    if not include_deleted:
        conditions.insert(0, "not is_deleted")
    if project_ids is not None:
        ids = [int(i) for i in project_ids]
        conditions.insert(0, f"project_id in ({', '.join('?' * len(ids))})" if ids else "false")
        params[:0] = ids
    ordering = []
    for item in order_by or []:
        identifier, descending = parse_order_by(item)
        if identifier.column not in available and identifier.kind != "user":
            logger.warning("no run has %s: ordering by it changes nothing", identifier.text)
            continue
        direction = "desc" if descending else "asc"
        ordering.append(f"{_order_column(identifier, quote)} {direction} nulls last")
    # MLflow's default order, and its tie-breakers after any order_by
    ordering += ["start_time desc nulls last", "run_id"]
    where = " and ".join(conditions) or "true"
    sql = f"select * from {RUNS_WIDE} as runs where {where} order by {', '.join(ordering)} limit ?"
    return sql, [*params, max_results]


def search_runs(
    filter_string: str | None = None,
    order_by: Sequence[str] | None = None,
    max_results: int = DEFAULT_MAX_RESULTS,
    warehouse: str | os.PathLike[str] | None = None,
    project_ids: Sequence[int] | None = None,
    include_deleted: bool = False,
    destination: str = "duckdb",
    spark: Any = None,
) -> pd.DataFrame:
    """Runs matching an MLflow filter, as MLflow's `search_runs()` DataFrame.

    Args:
        filter_string: MLflow filter grammar (see the module docstring); None for every run.
        order_by: e.g. `["metrics.rmse DESC", "start_time"]`; missing values sort last.
            Default: `start_time DESC`, then `run_id`.
        max_results: at most this many rows (MLflow's default, 100,000).
        warehouse: the DuckDB file (default: `$LABSYNC_WAREHOUSE`, `[labsync] warehouse`, or
            `warehouse/labsync.duckdb`); opened read-only.
        project_ids: only these projects (MLflow's `experiment_ids`).
        include_deleted: also return deleted runs (MLflow returns active runs only).
        destination: "postgres" reads the Postgres warehouse of dlt's credentials
            (`DESTINATION__POSTGRES__CREDENTIALS`) instead of a DuckDB file.
        spark: a Spark session holding the views (`pipelines.spark.build_views`).

    Returns:
        One row per run: `run_id, project_id, run_name, status, start_time, end_time,
        parent_run_id, artifact_uri, is_deleted`, then `metrics.*` (float, NaN when missing),
        `params.*` and `tags.*` (strings; missing is None, or NaN under pandas' string dtype).

    Raises:
        InvalidFilter: the filter or an order_by item is malformed.
        ConfigurationError: no warehouse, or it has no `analytics.runs_wide` yet.
    """
    if isinstance(max_results, bool) or not isinstance(max_results, int) or max_results < 1:
        raise ValueError(f"max_results must be a positive integer, got {max_results!r}")
    if isinstance(order_by, str):
        order_by = [order_by]
    if spark is not None or destination == "postgres":
        return _search_elsewhere(
            spark, filter_string, order_by, max_results, project_ids, include_deleted
        )
    path = warehouse_path(warehouse)
    if not Path(path).exists():
        raise ConfigurationError(f"no warehouse at {path}: run `labsync sync` first")
    with connect(path, read_only=True) as con:
        if not table_exists(con, "analytics", "runs_wide"):
            raise ConfigurationError(f"{path} has no {RUNS_WIDE}: run `labsync models`")
        columns = [row[0] for row in con.execute(f"describe {RUNS_WIDE}").fetchall()]
        sql, params = build_query(
            filter_string, order_by, max_results, columns, project_ids, include_deleted
        )
        logger.debug("search_runs: %s %s", sql, params)
        with warnings.catch_warnings():
            # DuckDB's own DataFrame conversion trips a pandas 3.1 deprecation; not ours to fix
            warnings.filterwarnings("ignore", message="The inplace keyword")
            return con.execute(sql, params).df()


def _search_elsewhere(
    spark: Any,
    filter_string: str | None,
    order_by: Sequence[str] | None,
    max_results: int,
    project_ids: Sequence[int] | None,
    include_deleted: bool,
) -> pd.DataFrame:
    """search_runs on Spark (a session with the views) or on the Postgres warehouse."""
    if spark is not None:
        if not spark.catalog.tableExists(RUNS_WIDE):
            raise ConfigurationError(f"this Spark session has no {RUNS_WIDE}: build the views")
        columns = spark.table(RUNS_WIDE).columns
        sql, params = build_query(
            filter_string,
            order_by,
            max_results,
            columns,
            project_ids,
            include_deleted,
            quote=_backquote,
        )
        return spark.sql(sql, args=params).toPandas()
    from . import postgres

    target = postgres.target()
    con = target.connect()
    try:
        with con.cursor() as cur:
            cur.execute(
                "select column_name from information_schema.columns where table_schema = "
                "'analytics' and table_name = 'runs_wide' order by ordinal_position"
            )
            columns = [row[0] for row in cur.fetchall()]
            if not columns:
                raise ConfigurationError(f"Postgres {target.name} has no {RUNS_WIDE}")
            sql, params = build_query(
                filter_string, order_by, max_results, columns, project_ids, include_deleted
            )
            cur.execute(sql.replace("%", "%%").replace("?", "%s"), params)
            names = [d[0] for d in cur.description]
            return pd.DataFrame(cur.fetchall(), columns=names)
    finally:
        con.close()
