"""The model runner: build order, views over missing sources skipped or pruned."""

from __future__ import annotations

from pathlib import Path

import duckdb

from pipelines import models

UNION = """
with a as (select * from raw_a.items),
b as (select * from raw_b.items),
final as (select id from a union all by name select id from b)
select * from final
"""


def write(folder: Path, name: str, sql: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.sql").write_text(sql)


def test_union_model_covers_the_sources_present_and_dependents_of_missing_ones_skip(
    tmp_path: Path,
) -> None:
    sql_dir = tmp_path / "sql"
    write(sql_dir / "marts", "everything", UNION)
    write(sql_dir / "marts", "only_b", "with b as (select * from raw_b.items) select * from b")
    write(sql_dir / "marts", "on_b", "with x as (select * from analytics.only_b) select * from x")
    write(sql_dir / "audits", "b_ids", "select id from analytics.only_b where id < 0")
    con = duckdb.connect()
    con.execute("create schema raw_a; create table raw_a.items as select unnest([1, 2]) as id")

    built = models.build(con, sql_dir)

    assert [m.name for m in built] == ["everything"]
    assert con.execute("select id from analytics.everything order by id").fetchall() == [(1,), (2,)]
    assert models.run_audits(con, sql_dir) == []  # the audit over a skipped view is not run

    con.execute("create schema raw_b; create table raw_b.items as select 3 as id")
    built = models.build(con, sql_dir)
    assert sorted(m.name for m in built) == ["everything", "on_b", "only_b"]
    assert con.execute("select count(*) from analytics.everything").fetchone() == (3,)
    assert con.execute("select * from analytics.on_b").fetchall() == [(3,)]


def test_pruning_returns_none_when_nothing_is_left() -> None:
    assert models.without_missing_inputs(UNION, set()) is None
    assert "raw_b" not in (models.without_missing_inputs(UNION, {"raw_a.items"}) or "raw_b")
