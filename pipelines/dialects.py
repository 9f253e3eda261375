"""The SQL in `sql/` rendered for other engines: one source, many dialects.

The files are DuckDB SQL. `render` parses one with sqlglot, rewrites the few constructs
sqlglot does not translate (or translates to something that means another thing), and
prints it for the target at sqlglot's strictest level: an unsupported construct raises
`UnsupportedSQL` instead of producing SQL that would fail, or worse, compute something else.

Rewrites (generic, for every model):
- a pinned `pivot ... on col in (...) using f(x) group by k` becomes a `group by k` with one
  `f(case when col = value then x end)` per value (`first`/`any_value` as `max`): only DuckDB,
  Snowflake and Spark have PIVOT, each its own;
- `to_milliseconds(n)` / `to_microseconds(n)` intervals: `n * interval '1 millisecond'` on
  Postgres, `make_dt_interval(0, 0, 0, n / 1e3)` (exact decimals) on Spark;
- `regexp_replace(s, p, r, 'g')`: engines whose replacement is global by default lose the
  flag, and `\\1` back-references become `$1` where Java/ICU regexes are used (Spark, Trino);
- Postgres: `mode(x)` -> `mode() within group (order by x)`, `isnan(x)` -> `x = 'NaN'`,
  `try_cast(s as double)` -> a cast guarded by a number pattern, `round(double, n)` through
  numeric, `avg()` back to double precision, `regexp_extract` -> `regexp_match` ('' when it
  does not match, as in DuckDB), `from_json(s, '["VARCHAR"]')` -> a text array;
- Spark: JSON values stay strings (Spark has no JSON type; `->>` reads them), `timezone('UTC',
  ts)` is `ts` (labsync's sessions run in UTC), `materialized` CTE hints are dropped,
  `from_json(s, '["VARCHAR"]')` -> `from_json(s, 'array<string>')`.

Where a construct has no translation at all, a model has an override beside it, named by
dialect (`llm_obs_annotations.spark.sql`), written in that engine's SQL; each says why at
its top. `override_path` finds them; `discover` in `models` skips them as models.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, SqlglotError

from .common.errors import LabsyncError

SOURCE = "duckdb"
LIVE = ("duckdb", "postgres", "spark")  # run by the test suite on real engines
COMPILED = ("snowflake", "bigquery", "databricks", "trino")  # rendered strictly, not run
ENGINES = (*LIVE, *COMPILED)
# engines whose regexp_replace replaces every match without a flag
GLOBAL_REPLACE = {"spark", "databricks", "trino", "bigquery", "snowflake"}
DOLLAR_BACKREFS = {"spark", "databricks", "trino"}  # Java / ICU replacement strings
FIRST_LIKE = {"first", "any_value", "arbitrary", "max"}
# what DuckDB's try_cast(... as double) accepts, as a Postgres regex (case-insensitive)
PG_DOUBLE = r"^\s*[-+]?((\d+\.?\d*|\.\d+)(e[-+]?\d+)?|inf|infinity|nan)\s*$"


class UnsupportedSQL(LabsyncError):
    """A model uses a construct the target engine has no translation for."""


def override_path(path: Path, dialect: str) -> Path:
    """`<model>.<dialect>.sql` beside the model: its text replaces the rendering."""
    return path.with_name(f"{path.stem}.{dialect}.sql")


def is_override(path: Path) -> bool:
    return "." in path.stem and path.stem.rsplit(".", 1)[1] in ENGINES


def source_for(path: Path, sql: str, dialect: str) -> tuple[str, str]:
    """(SQL text, its dialect) for a model file on `dialect`: its override, else itself."""
    override = override_path(path, dialect)
    if dialect != SOURCE and override.exists():
        return override.read_text(encoding="utf-8").strip().rstrip(";"), dialect
    return sql, SOURCE


def parse(sql: str, read: str = SOURCE) -> exp.Expression:
    try:
        return sqlglot.parse_one(sql, read=read)
    except SqlglotError as exc:
        raise UnsupportedSQL(f"cannot parse: {exc}") from None


def render(
    sql: str,
    dialect: str,
    *,
    read: str = SOURCE,
    schemas: Mapping[str, str] | None = None,
    pretty: bool = False,
) -> str:
    """`sql` (written for `read`) as `dialect` SQL; `schemas` renames schemas of tables."""
    if dialect not in ENGINES:
        raise UnsupportedSQL(f"unknown engine {dialect}; expected one of {', '.join(ENGINES)}")
    tree = parse(sql, read)
    for table in tree.find_all(exp.Table):
        if schemas and table.db in schemas:
            table.set("db", exp.to_identifier(schemas[table.db]))
    if read == SOURCE and dialect != SOURCE:
        tree = translate(tree, dialect)
    try:
        return tree.sql(
            dialect, pretty=pretty, unsupported_level=ErrorLevel.RAISE, max_unsupported=1
        )
    except SqlglotError as exc:
        raise UnsupportedSQL(f"cannot render for {dialect}: {exc}") from None


def translate(tree: exp.Expression, dialect: str) -> exp.Expression:
    """The DuckDB tree rewritten where sqlglot alone would get `dialect` wrong."""
    for pivot in list(tree.find_all(exp.Pivot)):
        if not pivot.args.get("unpivot"):
            replacement = _pivot_as_aggregates(pivot)
            tree = replacement if pivot is tree else tree
            pivot.replace(replacement)
    rewrites = {
        "postgres": _postgres,
        "spark": _spark,
        "databricks": _spark,
    }.get(dialect)
    return tree.transform(lambda node: _common(node, dialect, rewrites))


def _pivot_as_aggregates(pivot: exp.Pivot) -> exp.Expression:
    (field,) = pivot.expressions
    if not isinstance(field, exp.In):
        raise UnsupportedSQL("a dynamic pivot must be pinned (models.pin_dynamic_pivots) first")
    (aggregate,) = pivot.args.get("using") or [None]
    if not isinstance(aggregate, exp.AggFunc):
        raise UnsupportedSQL("a pivot needs exactly one aggregate in `using`")
    group = pivot.args.get("group")
    keys = [e.copy() for e in group.expressions] if group else []
    columns: list[exp.Expression] = list(keys)
    name = aggregate.sql_name().lower()
    for value in field.expressions:
        matched = exp.Case(
            ifs=[
                exp.If(
                    this=exp.EQ(this=field.this.copy(), expression=value.copy()),
                    true=aggregate.this.copy(),
                )
            ]
        )
        cell = (
            exp.Max(this=matched)
            if name in FIRST_LIKE
            else aggregate.__class__(
                this=matched, **{k: v for k, v in aggregate.args.items() if k != "this"}
            )
        )
        label = value.name if isinstance(value, exp.Literal) else value.sql(SOURCE)
        columns.append(exp.alias_(cell, exp.to_identifier(label, quoted=True)))
    source = pivot.this.copy()
    select = exp.select(*columns).from_(source)
    return select.group_by(*[k.copy() for k in keys]) if keys else select


def _common(node: exp.Expression, dialect: str, rewrites: object) -> exp.Expression:
    if isinstance(node, exp.RegexpReplace):
        node = _regexp_replace(node, dialect)
    if callable(rewrites):
        return rewrites(node)
    return node


def _regexp_replace(node: exp.RegexpReplace, dialect: str) -> exp.Expression:
    modifiers = node.args.get("modifiers")
    if dialect in GLOBAL_REPLACE and modifiers is not None:
        if "g" not in modifiers.name or set(modifiers.name) - {"g"}:
            raise UnsupportedSQL(f"regexp_replace flags {modifiers.name!r} on {dialect}")
        node.set("modifiers", None)
    replacement = node.args.get("replacement")
    if dialect in DOLLAR_BACKREFS and isinstance(replacement, exp.Literal):
        node.set(
            "replacement",
            exp.Literal.string(re.sub(r"\\(\d)", r"$\1", replacement.name)),
        )
    return node


def _interval_call(node: exp.Expression) -> tuple[str, exp.Expression] | None:
    if isinstance(node, exp.Anonymous) and node.name.lower() in (
        "to_milliseconds",
        "to_microseconds",
    ):
        (value,) = node.expressions
        return node.name.lower().removeprefix("to_"), value
    return None


def _is_varchar_list(node: exp.Expression) -> bool:
    return isinstance(node, exp.FromJson) and node.expression.name.replace(" ", "") in (
        '["VARCHAR"]',
        '["TEXT"]',
    )


def _postgres(node: exp.Expression) -> exp.Expression:
    interval = _interval_call(node)
    if interval:
        unit, value = interval
        return exp.Mul(
            this=exp.paren(value.copy()),
            expression=exp.Interval(this=exp.Literal.string("1"), unit=exp.var(unit[:-1])),
        )
    if isinstance(node, exp.Mode):
        return exp.WithinGroup(
            this=exp.Anonymous(this="mode", expressions=[]),
            expression=exp.Order(expressions=[exp.Ordered(this=node.this.copy())]),
        )
    if isinstance(node, exp.IsNan):
        nan = exp.cast(exp.Literal.string("NaN"), exp.DataType.build("double"))
        return exp.paren(exp.EQ(this=node.this.copy(), expression=nan))
    if isinstance(node, exp.TryCast) and node.to.is_type(*exp.DataType.REAL_TYPES):
        pattern = exp.Literal.string(PG_DOUBLE)
        return exp.Case(
            ifs=[
                exp.If(
                    this=exp.RegexpILike(this=node.this.copy(), expression=pattern),
                    true=exp.cast(node.this.copy(), node.to.copy()),
                )
            ]
        )
    if isinstance(node, exp.TryCast):
        raise UnsupportedSQL(f"try_cast to {node.to.sql('postgres')} on postgres")
    if isinstance(node, exp.Round) and node.args.get("decimals") is not None:
        inner = exp.Round(
            this=exp.cast(node.this.copy(), exp.DataType.build("decimal")),
            decimals=node.args["decimals"].copy(),
        )
        return exp.cast(inner, exp.DataType.build("double"))
    if isinstance(node, exp.Avg):
        return exp.cast(node.copy(), exp.DataType.build("double"))
    if isinstance(node, exp.RegexpExtract):
        group = node.args.get("group")
        match = exp.Anonymous(
            this="regexp_match", expressions=[node.this.copy(), node.expression.copy()]
        )
        index = group.copy() if group is not None else exp.Literal.number(0)
        if index.name == "0":
            raise UnsupportedSQL("regexp_extract of the whole match on postgres: name a group")
        return exp.Coalesce(
            this=exp.Bracket(this=exp.paren(match), expressions=[index]),
            expressions=[exp.Literal.string("")],
        )
    if _is_varchar_list(node):
        elements = sqlglot.parse_one(
            "array(select json_array_elements_text(cast(x as json)))", read="postgres"
        )
        for column in elements.find_all(exp.Column):
            if column.name == "x":
                column.replace(node.this.copy())
        return exp.Case(
            ifs=[
                exp.If(this=exp.Is(this=node.this.copy(), expression=exp.Null()), true=exp.Null())
            ],
            default=elements,
        )
    return node


def _spark(node: exp.Expression) -> exp.Expression:
    interval = _interval_call(node)
    if interval:
        unit, value = interval
        divisor = {"milliseconds": "1e3", "microseconds": "1e6"}[unit]
        seconds = exp.Div(
            this=exp.cast(value.copy(), exp.DataType.build("decimal(38, 0)")),
            expression=exp.cast(exp.Literal.number(divisor), exp.DataType.build("decimal(8,0)")),
        )
        zero = exp.Literal.number(0)
        return exp.Anonymous(
            this="make_dt_interval", expressions=[zero, zero.copy(), zero.copy(), seconds]
        )
    if isinstance(node, exp.Cast) and node.to.is_type(exp.DataType.Type.JSON):
        return node.this
    if isinstance(node, exp.Anonymous) and node.name.lower() == "timezone":
        zone, value = node.expressions
        if zone.name.upper() != "UTC":
            raise UnsupportedSQL(f"timezone({zone.sql()}, ...) on spark: sessions run in UTC")
        return value
    if isinstance(node, exp.CTE) and node.args.get("materialized") is not None:
        node.set("materialized", None)
        return node
    if _is_varchar_list(node):
        return exp.Anonymous(
            this="from_json", expressions=[node.this.copy(), exp.Literal.string("array<string>")]
        )
    return node
