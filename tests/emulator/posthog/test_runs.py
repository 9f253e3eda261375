"""``evaluation_runs`` (202, emits an ``$ai_evaluation`` event) and ``evaluations/test_hog``."""

from __future__ import annotations

from typing import Any

import pytest

from emulator import Emulator

from .conftest import PhApi
from .test_hogql import shape


def _target(emu: Emulator) -> dict[str, Any]:
    return emu.posthog.generation_events()[-1]


def test_run_returns_202_and_emits_an_event(fresh: Emulator, fapi: PhApi) -> None:
    evaluation_id = fresh.posthog.evaluation_ids()[1]
    evaluation = fresh.posthog.get_evaluation(evaluation_id)
    target = _target(fresh)
    before = len(fresh.posthog.evaluation_events())
    response = fapi.request(
        "POST",
        "/evaluation_runs/",
        json={
            "evaluation_id": evaluation_id,
            "target_event_id": target["uuid"],
            "timestamp": target["timestamp"],
            "distinct_id": target["distinct_id"],
        },
    )
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "started" and body["target_event_id"] == target["uuid"]
    assert body["evaluation"] == {"id": evaluation_id, "name": evaluation["name"]}
    prefix = f"{evaluation_id}-{target['uuid']}-manual-"
    assert body["workflow_id"].startswith(prefix) and body["workflow_id"][len(prefix) :].isdigit()
    events = fresh.posthog.evaluation_events()
    assert len(events) == before + 1
    (event,) = [
        e
        for e in events
        if e["properties"]["$ai_target_event_id"] == target["uuid"]
        and e["timestamp"] > "2026-11-02"
    ]
    props = event["properties"]
    assert props["$ai_evaluation_id"] == evaluation_id
    assert props["$ai_evaluation_runtime"] == evaluation["evaluation_type"]
    assert event["created_at"] > event["timestamp"]  # ingested after emission
    assert event["distinct_id"] == target["distinct_id"]
    # the new event is visible through the Query API in its window
    day = event["timestamp"][:10]
    rows = fapi.query(shape(f"{day} 00:00:00", f"{day} 23:59:59.999999")).json()["results"]
    assert event["uuid"] in {r[0] for r in rows}


def test_run_validation_and_lookups(fresh: Emulator, fapi: PhApi) -> None:
    evaluation_id = fresh.posthog.evaluation_ids()[0]
    target = _target(fresh)
    missing = fapi.request("POST", "/evaluation_runs/", json={"timestamp": "nope"})
    assert missing.status_code == 400
    assert missing.json() == {
        "error": {
            "evaluation_id": ["This field is required."],
            "target_event_id": ["This field is required."],
            "timestamp": [
                "Datetime has wrong format. Use one of these formats instead: "
                "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."
            ],
        }
    }
    good = {
        "evaluation_id": evaluation_id,
        "target_event_id": target["uuid"],
        "timestamp": target["timestamp"],
    }
    unknown_eval = {**good, "evaluation_id": "01990000-0000-7000-8000-000000000000"}
    response = fapi.request("POST", "/evaluation_runs/", json=unknown_eval)
    assert response.status_code == 404
    assert response.json() == {"error": f"Evaluation {unknown_eval['evaluation_id']} not found"}
    wrong_day = {**good, "timestamp": "2026-01-01T00:00:00Z"}
    response = fapi.request("POST", "/evaluation_runs/", json=wrong_day)
    assert response.json() == {"error": f"Event {target['uuid']} not found"}
    assert response.status_code == 404
    wrong_kind = {**good, "event": "$pageview"}
    assert fapi.request("POST", "/evaluation_runs/", json=wrong_kind).status_code == 404
    fresh.posthog.soft_delete_evaluation(evaluation_id)
    assert fapi.request("POST", "/evaluation_runs/", json=good).status_code == 404


def test_test_hog(fapi: PhApi) -> None:
    response = fapi.request(
        "POST", "/evaluations/test_hog/", json={"source": "return true", "sample_count": 3}
    )
    assert response.status_code == 200
    results = response.json()["results"]
    assert len(results) == 3
    for result in results:
        assert set(result) == {
            "event_uuid",
            "trace_id",
            "input_preview",
            "output_preview",
            "result",
            "reasoning",
            "error",
        }
        assert result["result"] in (True, False) and len(result["input_preview"]) <= 200
    default = fapi.request("POST", "/evaluations/test_hog/", json={"source": "return 1"}).json()
    assert len(default["results"]) == 5
    na = fapi.request(
        "POST",
        "/evaluations/test_hog/",
        json={"source": "return null", "sample_count": 10, "allows_na": True},
    ).json()
    assert {r["result"] for r in na["results"]} <= {True, False, None}


@pytest.mark.parametrize(
    ("body", "status", "check"),
    [
        ({"source": "return (true"}, 400, {"error": "Compilation failed: unclosed '('"}),
        ({"source": "let x := 'open"}, 400, {"error": "Compilation failed: unterminated string"}),
        ({}, 400, "source"),
        ({"source": "  "}, 400, "source"),
        ({"source": "return true", "sample_count": 11}, 400, "sample_count"),
        ({"source": "return true", "sample_count": 0}, 400, "sample_count"),
    ],
)
def test_test_hog_errors(fapi: PhApi, body: dict[str, Any], status: int, check: object) -> None:
    response = fapi.request("POST", "/evaluations/test_hog/", json=body)
    assert response.status_code == status
    if isinstance(check, dict):
        assert response.json() == check
    else:
        assert response.json()["attr"] == check


def test_test_hog_without_recent_generations() -> None:
    with Emulator(posthog_evaluation_events=0, posthog_now="2026-11-02T00:00:00Z", runs=5) as emu:
        body = PhApi(emu).request("POST", "/evaluations/test_hog/", json={"source": "1"}).json()
        assert body == {
            "results": [],
            "message": "No $ai_generation events found in the last 7 days",
        }
