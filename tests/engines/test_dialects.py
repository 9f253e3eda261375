"""Every model, macro and audit renders for every engine at sqlglot's strictest level."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlglot

from pipelines import dialects, models

PINNED = "on column_name in ('metrics.a', 'metrics.b') using"


def every_file() -> list[Path]:
    files = [m.path for m in models.discover() + models.discover_macros()]
    return files + sorted((models.SQL_DIR / "audits").glob("*.sql"))


def source(path: Path) -> str:
    # the runner pins dynamic pivots from the data before rendering; pin two values here
    sql = path.read_text(encoding="utf-8").strip().rstrip(";")
    return sql.replace("on column_name using", PINNED)


@pytest.mark.parametrize("engine", [e for e in dialects.ENGINES if e != "duckdb"])
def test_every_file_renders_strictly(engine: str) -> None:
    failures = []
    for path in every_file():
        text, read = dialects.source_for(path, source(path), engine)
        try:
            rendered = dialects.render(text, engine, read=read)
            sqlglot.parse_one(rendered, read=engine)  # and the engine's SQL reads back
        except (dialects.UnsupportedSQL, sqlglot.errors.SqlglotError) as exc:
            failures.append(f"{path.name}: {exc}")
    assert failures == []
    assert len(every_file()) > 100


def test_an_unsupported_construct_fails_the_render() -> None:
    with pytest.raises(dialects.UnsupportedSQL, match="postgres"):
        dialects.render("select try_cast(x as date) from t", "postgres")
    with pytest.raises(dialects.UnsupportedSQL, match="dynamic pivot must be pinned"):
        dialects.render("pivot t on k using first(v) group by id", "trino")
    with pytest.raises(dialects.UnsupportedSQL, match="unknown engine"):
        dialects.render("select 1", "oracle9")


def test_pivots_become_conditional_aggregates() -> None:
    sql = dialects.render("pivot t on k in ('a.x', 'b') using first(v) group by id", "trino")
    assert sql == (
        "SELECT id, MAX(CASE WHEN k = 'a.x' THEN v END) AS \"a.x\", "
        "MAX(CASE WHEN k = 'b' THEN v END) AS \"b\" FROM t GROUP BY id"
    )


def test_regexp_replace_back_references_per_engine() -> None:
    sql = "select regexp_replace(m, '([a-z])([A-Z])', '\\1_\\2', 'g') from t"
    assert "'$1_$2'" in dialects.render(sql, "spark")
    assert "'g'" not in dialects.render(sql, "spark")
    assert "'\\1_\\2', 'g'" in dialects.render(sql, "postgres")


def test_overrides_are_named_by_engine_and_not_models() -> None:
    overrides = sorted(p for p in models.SQL_DIR.rglob("*.sql") if dialects.is_override(p))
    assert overrides, "the Spark override of llm_obs_annotations"
    names = {m.path for m in models.discover()}
    for path in overrides:
        assert path not in names
        model = path.with_name(path.stem.rsplit(".", 1)[0] + ".sql")
        assert model.exists(), f"{path.name} overrides no model"
        assert path.read_text().startswith("--"), f"{path.name} must say why it exists"
