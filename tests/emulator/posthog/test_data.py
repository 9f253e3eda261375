"""The ``emu.posthog`` helpers, observed over HTTP where it matters."""

from __future__ import annotations

import pytest

from emulator import Emulator
from emulator.posthog.wire import drf_iso, parse_datetime_us

from .conftest import PhApi
from .test_hogql import shape


def test_update_with_and_without_touch(fresh: Emulator, fapi: PhApi) -> None:
    evaluation = fresh.posthog.evaluation_ids()[0]
    before = fapi.ok(f"/evaluations/{evaluation}/")
    # the trial-limit path disables with QuerySet.update: updated_at does not move
    fresh.posthog.update_evaluation(evaluation, touch=False, enabled=False)
    silent = fapi.ok(f"/evaluations/{evaluation}/")
    assert silent["enabled"] is False and silent["updated_at"] == before["updated_at"]
    touched = fresh.posthog.update_evaluation(evaluation, enabled=True)
    assert touched["updated_at"] > before["updated_at"]
    assert fapi.ok(f"/evaluations/{evaluation}/") == touched


def test_add_and_soft_delete_helpers(fresh: Emulator, fapi: PhApi) -> None:
    posthog = fresh.posthog
    dataset = posthog.add_dataset("helper set", description="d", metadata={"a": 1})
    item = posthog.add_item(dataset, input="q", output="a")
    assert fapi.ok("/datasets/")["results"][0]["id"] == dataset
    assert fapi.ok("/dataset_items/")["results"][0]["id"] == item
    assert posthog.item_ids(dataset) == [item]
    posthog.soft_delete_item(item)
    assert posthog.item_ids(dataset) == [] and posthog.item_ids(dataset, include_deleted=True)
    assert posthog.get_item(item)["deleted"] is True
    posthog.restore_item(item)
    posthog.soft_delete_dataset(dataset)
    assert dataset not in posthog.dataset_ids()
    assert dataset in posthog.dataset_ids(include_deleted=True)
    posthog.restore_dataset(dataset)
    assert fapi.get(f"/datasets/{dataset}/").status_code == 200
    with pytest.raises(KeyError, match="not found"):
        posthog.add_item("01990000-0000-7000-8000-000000000000")
    with pytest.raises(KeyError):
        posthog.update_dataset("nope", name="x")


def test_add_evaluation_helper(fresh: Emulator, fapi: PhApi) -> None:
    judge = fresh.posthog.add_evaluation("judge", evaluation_type="llm_judge", allows_na=True)
    row = fapi.ok(f"/evaluations/{judge}/")
    assert row["evaluation_type"] == "llm_judge" and row["output_config"] == {"allows_na": True}
    assert row["model_configuration"]["model"] and row["enabled"] is True
    hog = fresh.posthog.add_evaluation("hog", evaluation_config={"source": "return false"})
    assert fapi.ok(f"/evaluations/{hog}/")["evaluation_config"]["bytecode"]
    fresh.posthog.soft_delete_evaluation(judge)
    assert fapi.get(f"/evaluations/{judge}/").status_code == 404
    fresh.posthog.restore_evaluation(judge)
    assert fapi.get(f"/evaluations/{judge}/").status_code == 200


def test_drift_fields_are_served(fresh: Emulator, fapi: PhApi) -> None:
    dataset = fresh.posthog.dataset_ids()[0]
    fresh.posthog.update_dataset(dataset, archived=True, name=12)
    row = fapi.ok(f"/datasets/{dataset}/")
    assert row["archived"] is True and row["name"] == 12
    assert list(row)[-1] == "archived"


def test_mutation_timestamps_increase_past_generated_data(fresh: Emulator) -> None:
    newest = max(e["created_at"] for e in fresh.posthog.evaluation_events())
    first = fresh.posthog.now_us()
    second = fresh.posthog.now_us()
    assert parse_datetime_us(newest) < first < second


def test_evaluation_event_helpers(fresh: Emulator, fapi: PhApi) -> None:
    posthog = fresh.posthog
    judge = next(
        e
        for e in posthog.evaluation_ids()
        if posthog.get_evaluation(e)["output_config"]["allows_na"]
    )
    na = posthog.add_evaluation_event(
        judge, timestamp="2026-11-10T12:00:00Z", created_at="2026-11-10T12:00:02Z", applicable=False
    )
    (event,) = posthog.evaluation_events("2026-11-10T12:00:00Z", "2026-11-10T12:00:01Z")
    assert event["uuid"] == na
    assert event["properties"]["$ai_evaluation_applicable"] is False
    assert "$ai_evaluation_result" not in event["properties"]
    assert event["created_at"] == "2026-11-10T12:00:02Z"
    target = posthog.generation_events()[0]["uuid"]
    forced = posthog.add_evaluation_event(
        judge,
        timestamp="2026-11-11T00:00:00Z",
        result=False,
        target_event_id=target,
        properties={"$ai_evaluation_reasoning": "custom"},
    )
    (row,) = [e for e in posthog.evaluation_events() if e["uuid"] == forced]
    assert row["properties"]["$ai_target_event_id"] == target
    assert row["properties"]["$ai_evaluation_result"] is False
    assert row["properties"]["$ai_evaluation_reasoning"] == "custom"
    with pytest.raises(KeyError, match="event"):
        posthog.add_evaluation_event(judge, target_event_id="01990000-0000-7000-8000-000000000000")


def test_late_event_lands_in_an_already_read_window(fresh: Emulator, fapi: PhApi) -> None:
    evaluation = fresh.posthog.evaluation_ids()[0]
    now = fresh.posthog.now_us()
    start = now - 3600 * 1_000_000
    start_text = _literal(start)
    end_text = _literal(now + 1_000_000)
    before = {r[0] for r in fapi.query(shape(start_text, end_text)).json()["results"]}
    late = fresh.posthog.add_late_evaluation_event(evaluation, age_seconds=600)
    rows = fapi.query(shape(start_text, end_text)).json()["results"]
    (row,) = [r for r in rows if r[0] == late]
    assert late not in before
    lag = parse_datetime_us(row[2]) - parse_datetime_us(row[1])
    assert 599_000_000 <= lag <= 601_000_000  # ingested ~10 minutes after emission


def _literal(us: int) -> str:
    return drf_iso(us).rstrip("Z").replace("T", " ")
