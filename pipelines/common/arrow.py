"""Build typed Arrow tables from API rows, failing loudly on type drift.

Sources yield Arrow tables instead of dicts: dlt then skips its Python normalizer (the cost
that dominates a dict-based sync) and no `__v_double`-style variant columns can appear.
Known fields have pinned types; a value of another type raises `SchemaDriftError` naming
the table and field. Unknown fields become new columns (objects and lists as JSON text).

Large batches can be converted in one pass of Arrow's C inference over whole rows
(`infer_struct`); only columns whose inferred type disagrees with the pinned one go through
the row-by-row path, which finds the offending value for the error.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pyarrow as pa

from .errors import SchemaDriftError

TIMESTAMP = pa.timestamp("us", tz="UTC")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FRACTION_TOO_LONG = re.compile(r"(\.\d{6})\d+")


def repeat(value: Any, arrow_type: pa.DataType, count: int) -> pa.Array:
    """`value` `count` times. An aware datetime as microseconds: `pa.scalar` of a timestamp
    imports pandas (~0.4 s, most of what a sync where nothing changed would import it for)."""
    if isinstance(value, datetime) and value.tzinfo and arrow_type == TIMESTAMP:
        micros = array("q", [(value - _EPOCH) // timedelta(microseconds=1)]) * count
        return pa.Array.from_buffers(arrow_type, count, [None, pa.py_buffer(micros)])
    return pa.repeat(pa.scalar(value, arrow_type), count)


@dataclass(frozen=True)
class Field:
    """A pinned column: `name` in the table, read from `source` in the row (default: name)."""

    name: str
    kind: str  # one of: int, float, text, bool, timestamp, json
    source: str | None = None

    @property
    def key(self) -> str:
        return self.source or self.name


ARROW_TYPES: dict[str, pa.DataType] = {
    "int": pa.int64(),
    "float": pa.float64(),
    "text": pa.string(),
    "bool": pa.bool_(),
    "timestamp": TIMESTAMP,
    "json": pa.string(),
}
# dlt column hints for the same kinds, so empty tables and JSON columns keep their types
DLT_TYPES: dict[str, str] = {
    "int": "bigint",
    "float": "double",
    "text": "text",
    "bool": "bool",
    "timestamp": "timestamp",
    "json": "json",
}
_ACCEPTS: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "float": (int, float),
    "text": (str,),
    "bool": (bool,),
    "timestamp": (str,),
}


def parse_timestamp(value: str) -> datetime:
    """Parse an ISO-8601 timestamp (`Z` or offset, up to 9 fractional digits) to aware UTC."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:  # more than 6 fractional digits: keep microseconds
        parsed = datetime.fromisoformat(_FRACTION_TOO_LONG.sub(r"\1", value))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _column(table: str, field: Field, values: list[Any], row_ids: Sequence[Any]) -> pa.Array:
    kind = field.kind
    if kind == "json":
        return pa.array(
            [None if v is None else orjson.dumps(v).decode() for v in values], pa.string()
        )
    fast = _fast_column(kind, values)
    if fast is not None:
        return fast
    accepted = _ACCEPTS[kind]
    for value, row_id in zip(values, row_ids, strict=True):
        # bool is an int subclass: never let True pass as a number or a number as a bool
        if value is not None and (
            not isinstance(value, accepted) or (isinstance(value, bool) and kind != "bool")
        ):
            expected = {"int": "integer", "float": "number", "timestamp": "ISO-8601 string"}
            raise SchemaDriftError(table, field.name, expected.get(kind, kind), value, row_id)
    if kind != "timestamp":
        return pa.array(values, ARROW_TYPES[kind])
    try:
        return pa.array(values, pa.string()).cast(TIMESTAMP)
    except pa.ArrowInvalid:
        parsed = []
        for value, row_id in zip(values, row_ids, strict=True):
            try:
                parsed.append(None if value is None else parse_timestamp(value))
            except ValueError:
                raise SchemaDriftError(
                    table, field.name, "ISO-8601 timestamp", value, row_id
                ) from None
        return pa.array(parsed, TIMESTAMP)


# Arrow's own inference (in C) decides the common case; only a mismatch takes the slow,
# row-by-row path that finds the offending value for the error message.
_INFERRED_OK: dict[str, tuple[pa.DataType, ...]] = {
    "int": (pa.int64(), pa.null()),
    "float": (pa.int64(), pa.float64(), pa.null()),
    "text": (pa.string(), pa.null()),
    "bool": (pa.bool_(), pa.null()),
    "timestamp": (pa.string(), pa.null()),
}


def _fast_column(kind: str, values: list[Any]) -> pa.Array | None:
    try:
        inferred = pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return None
    if inferred.type not in _INFERRED_OK[kind]:
        return None
    try:
        return inferred.cast(ARROW_TYPES[kind])
    except pa.ArrowInvalid:
        return None


def infer_struct(rows: Sequence[Any]) -> pa.StructArray | None:
    """Arrow's type inference over whole rows (dicts) at once, in C; None when it cannot
    decide (values of one key disagree in type, numbers too large, rows that are not dicts).
    """
    if not rows:  # nothing to infer, and `pa.array` would import pandas (~0.35 s)
        return None
    try:
        inferred = pa.array(rows)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return None
    return inferred if isinstance(inferred, pa.StructArray) else None


def _inferred_column(struct: pa.StructArray, field: Field) -> pa.Array | None:
    """The field's column from an inferred struct, cast to its pinned type; None when the
    inferred type does not fit it (the row-by-row path then names the offending value)."""
    if field.kind == "json":
        return None
    if struct.type.get_field_index(field.key) < 0:  # no row has the key
        return pa.nulls(len(struct), ARROW_TYPES[field.kind])
    column = struct.field(field.key)
    if column.type not in _INFERRED_OK[field.kind]:
        return None
    try:
        return column.cast(ARROW_TYPES[field.kind])
    except pa.ArrowInvalid:
        return None


def _is_plain(arrow_type: pa.DataType) -> bool:
    return arrow_type in (pa.int64(), pa.float64(), pa.bool_(), pa.string(), pa.null())


def _extra_column(table: str, name: str, values: list[Any], row_ids: Sequence[Any]) -> pa.Array:
    if any(isinstance(v, dict | list) for v in values):
        return _column(table, Field(name, "json"), values, row_ids)
    kinds = {type(v) for v in values if v is not None}
    if not kinds:  # no value yet: no type to pin (dlt adds the column when one arrives)
        return pa.nulls(len(values))
    if kinds <= {int}:
        kind = "int"
    elif kinds <= {int, float}:
        kind = "float"
    elif kinds <= {bool}:
        kind = "bool"
    elif kinds <= {str}:
        kind = "text"
    else:
        first = next(v for v in values if not isinstance(v, type(values[0])))
        raise SchemaDriftError(table, name, type(values[0]).__name__, first, row_ids[0])
    return _column(table, Field(name, kind), values, row_ids)


def build_table(
    table: str,
    rows: Sequence[dict[str, Any]],
    fields: Sequence[Field],
    *,
    row_ids: Sequence[Any],
    constants: dict[str, tuple[Any, pa.DataType]] | None = None,
    extras: bool = True,
    ignore: Iterable[str] = (),
    inferred: pa.StructArray | None = None,
) -> pa.Table:
    """Columns for `fields` (pinned), then constants, then any unknown keys of the rows
    (except those in `ignore`).

    `inferred` is `infer_struct(rows)` (or the same struct built another way): columns are
    then taken from it, and `rows` is only read for columns it cannot give.
    """
    count = len(inferred) if inferred is not None else len(rows)
    columns: dict[str, pa.Array] = {}
    for field in fields:
        column = _inferred_column(inferred, field) if inferred is not None else None
        if column is None:
            column = _column(table, field, [r.get(field.key) for r in rows], row_ids)
        columns[field.name] = column
    for name, (value, arrow_type) in (constants or {}).items():
        columns[name] = repeat(value, arrow_type, count)
    if extras:
        known = {f.key for f in fields}.union(ignore)
        present = inferred.type.names if inferred is not None else set().union(*rows)
        for name in sorted(set(present) - known):
            if inferred is not None and _is_plain(inferred.type.field(name).type):
                columns[name] = inferred.field(name)
            else:  # objects and lists become JSON text; no inference: find the drift
                columns[name] = _extra_column(table, name, [r.get(name) for r in rows], row_ids)
    return pa.table(columns)


class TableBatches:
    """Arrow tables converted page by page and handed on as one table per name.

    Converting each page as it arrives frees its dicts at once and keeps every conversion
    short (a long one holds the GIL and stalls the threads fetching the next pages); handing
    on one table per name per batch pays dlt's per-item cost (~5 ms) once per batch.
    """

    def __init__(self) -> None:
        self._parts: dict[str, list[pa.Table]] = {}
        self.rows = 0  # root rows collected since the last `take`

    def add(self, tables: Mapping[str, pa.Table], rows: int) -> None:
        for name, table in tables.items():
            self._parts.setdefault(name, []).append(table)
        self.rows += rows

    def take(self) -> dict[str, pa.Table]:
        """One table per name (a column missing from some pages is null there), then empty."""
        merged = {name: _concat(name, parts) for name, parts in self._parts.items()}
        self._parts.clear()
        self.rows = 0
        return merged


def _concat(name: str, parts: list[pa.Table]) -> pa.Table:
    try:
        # permissive: an extra column with only integers on one page and decimals on
        # another becomes float, as it would have in one conversion
        return pa.concat_tables(parts, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        types: dict[str, pa.DataType] = {}
        for part in parts:
            for field in part.schema:
                if pa.types.is_null(field.type):
                    continue
                first = types.setdefault(field.name, field.type)
                if first != field.type:
                    sample = next(v for v in part.column(field.name).to_pylist() if v is not None)
                    raise SchemaDriftError(name, field.name, str(first), sample, "n/a") from None
        raise


def check_extra_types(
    table_name: str, table: pa.Table, existing: Callable[[str], str | None]
) -> None:
    """Fail when a column already in the warehouse schema arrives with another type."""
    for name, column in zip(table.column_names, table.columns, strict=True):
        if pa.types.is_null(column.type):
            continue
        had = existing(name)
        got = _dlt_type_of(column.type)
        if had is not None and got is not None and had != got and {had, got} != {"json", "text"}:
            sample = next((v for v in column.to_pylist() if v is not None), None)
            raise SchemaDriftError(table_name, name, had, sample, "n/a")


def _dlt_type_of(arrow_type: pa.DataType) -> str | None:
    for kind, candidate in ARROW_TYPES.items():
        if arrow_type == candidate and kind != "json":
            return DLT_TYPES[kind]
    return None
