"""The REST resources over real loopback HTTP: routes, paging, filters, orders, writes."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from emulator import Emulator
from emulator.posthog.wire import parse_datetime_us

from .conftest import ENV, PROJ, PhApi

RESOURCES = ("datasets", "dataset_items", "evaluations")


def _ts(row: dict[str, Any], field: str = "created_at") -> int:
    return parse_datetime_us(row[field])


def _query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query, keep_blank_values=True)


# routes -----------------------------------------------------------------------------------


@pytest.mark.parametrize("resource", RESOURCES)
def test_both_prefixes_with_and_without_trailing_slash(ph: Emulator, resource: str) -> None:
    bodies = []
    for prefix in (ENV, PROJ, "/api/projects/@current"):
        for slash in ("", "/"):
            response = PhApi(ph, prefix=prefix).get(f"/{resource}{slash}")
            assert response.status_code == 200, response.text
            assert response.headers["Content-Type"] == "application/json"
            bodies.append(response.json()["results"])
    assert all(body == bodies[0] for body in bodies) and bodies[0]
    row_id = bodies[0][0]["id"]
    for prefix in (ENV, PROJ):
        for slash in ("", "/"):
            detail = PhApi(ph, prefix=prefix).get(f"/{resource}/{row_id}{slash}")
            assert detail.status_code == 200 and detail.json() == bodies[0][0]


def test_other_project_and_unknown_paths(api: PhApi, ph: Emulator) -> None:
    response = PhApi(ph, prefix="/api/environments/2").get("/datasets/")
    assert response.status_code == 404
    assert response.json() == {
        "type": "invalid_request",
        "code": "not_found",
        "detail": "Project not found.",
        "attr": None,
    }
    assert api.get("/no_such_thing/").status_code == 404
    assert api.get("/datasets/not-a-uuid/").json()["detail"] == "Not found."
    missing = "01990000-0000-7000-8000-000000000000"
    assert api.get(f"/evaluations/{missing}/").status_code == 404


def test_custom_project_id() -> None:
    with Emulator(posthog_project_id=42, posthog_datasets=1, posthog_evaluation_events=0) as emu:
        assert PhApi(emu, prefix="/api/projects/42").get("/datasets/").status_code == 200
        assert PhApi(emu, prefix="/api/projects/1").get("/datasets/").status_code == 404
        (row,) = PhApi(emu, prefix="/api/projects/42").ok("/datasets/")["results"]
        assert row["team"] == 42


# shapes -------------------------------------------------------------------------------------


def test_row_shapes(api: PhApi) -> None:
    dataset = api.ok("/datasets/")["results"][0]
    assert list(dataset) == [
        "id",
        "name",
        "description",
        "metadata",
        "created_at",
        "updated_at",
        "deleted",
        "created_by",
        "team",
    ]
    item = api.ok("/dataset_items/")["results"][0]
    assert list(item)[:8] == [
        "id",
        "dataset",
        "input",
        "output",
        "metadata",
        "ref_trace_id",
        "ref_timestamp",
        "ref_source_id",
    ]
    assert {"deleted", "created_at", "updated_at", "created_by", "team"} <= set(item)
    evaluation = api.ok("/evaluations/")["results"][0]
    assert "team" not in evaluation
    assert {"enabled", "evaluation_type", "evaluation_config", "output_type", "output_config"} <= (
        set(evaluation)
    )
    for row in (dataset, item, evaluation):
        assert row["created_at"].endswith("Z") and row["updated_at"] >= row["created_at"]
        assert row["deleted"] is False
    users = [r["created_by"] for r in api.all_pages("/dataset_items/") if r["created_by"]]
    assert set(users[0]) == {
        "id",
        "uuid",
        "distinct_id",
        "first_name",
        "last_name",
        "email",
        "is_email_verified",
        "hedgehog_config",
        "role_at_organization",
    }


# pagination ------------------------------------------------------------------------------


def test_default_limit_and_next_links(api: PhApi, ph: Emulator) -> None:
    expected = ph.posthog.item_ids()
    assert len(expected) > 100  # seed 1: 103 items, so the default page is full
    first = api.ok("/dataset_items/")
    assert first["count"] == len(expected) and len(first["results"]) == 100
    assert first["previous"] is None
    assert first["next"].startswith(f"{ph.base_url}{ENV}/dataset_items/?")
    assert _query(first["next"]) == {"limit": ["100"], "offset": ["100"]}
    rows = api.all_pages("/dataset_items/")
    assert sorted(r["id"] for r in rows) == sorted(expected)
    second = requests.get(first["next"], headers=api.session.headers, timeout=30).json()
    assert second["next"] is None
    assert _query(second["previous"]) == {"limit": ["100"]}  # offset 0 is dropped


def test_links_keep_other_params(api: PhApi, ph: Emulator) -> None:
    dataset = ph.posthog.dataset_ids()[0]
    body = api.ok("/dataset_items", {"dataset": dataset, "limit": 5, "offset": 12, "x": "1"})
    assert len(body["results"]) == 5
    assert body["count"] == len(ph.posthog.item_ids(dataset))
    for link, offset in ((body["next"], "17"), (body["previous"], "7")):
        assert urlsplit(link).path == f"{ENV}/dataset_items"
        assert _query(link) == {
            "dataset": [dataset],
            "limit": ["5"],
            "offset": [offset],
            "x": ["1"],
        }
        keys = [part.split("=")[0] for part in urlsplit(link).query.split("&")]
        assert keys == sorted(keys)  # DRF re-encodes the query sorted


@pytest.mark.parametrize("limit", ["0", "-3", "ten", ""])
def test_invalid_limit_falls_back_to_100(api: PhApi, limit: str) -> None:
    body = api.ok("/dataset_items/", {"limit": limit, "offset": "-4"})
    assert len(body["results"]) == 100 and body["previous"] is None


def test_no_limit_cap_and_offset_past_the_end(api: PhApi, ph: Emulator) -> None:
    total = len(ph.posthog.item_ids())
    body = api.ok("/dataset_items/", {"limit": 100_000})
    assert len(body["results"]) == total and body["next"] is None
    past = api.ok("/dataset_items/", {"limit": 10, "offset": total + 5})
    assert past["results"] == [] and past["count"] == total and past["next"] is None
    assert _query(past["previous"])["offset"] == [str(total - 5)]


# datasets: filters and orders --------------------------------------------------------------


def test_dataset_default_order(api: PhApi) -> None:
    rows = api.ok("/datasets/")["results"]
    keys = [(-_ts(r), r["id"]) for r in rows]
    assert keys == sorted(keys) and len(rows) == 3


@pytest.mark.parametrize(
    ("order_by", "field", "descending"),
    [
        ("created_at", "created_at", False),
        ("-created_at", "created_at", True),
        ("updated_at", "updated_at", False),
        ("-updated_at", "updated_at", True),
    ],
)
def test_dataset_orderings(api: PhApi, order_by: str, field: str, descending: bool) -> None:
    values = [_ts(r, field) for r in api.ok("/datasets/", {"order_by": order_by})["results"]]
    assert values == sorted(values, reverse=descending) and len(set(values)) == 3


def test_order_by_last_value_and_comma_list(api: PhApi) -> None:
    response = api.session.get(
        api.url("/datasets/"), params=[("order_by", "-created_at"), ("order_by", "created_at")]
    )
    values = [_ts(r) for r in response.json()["results"]]
    assert values == sorted(values)  # Django's QueryDict.get: the last value wins
    both = api.ok("/datasets/", {"order_by": "updated_at,-created_at"})["results"]
    assert [_ts(r, "updated_at") for r in both] == sorted(_ts(r, "updated_at") for r in both)


@pytest.mark.parametrize(
    ("resource", "value"),
    [("datasets", "name"), ("datasets", "created_at,bogus"), ("evaluations", "-enabled")],
)
def test_invalid_order_by_is_400(api: PhApi, resource: str, value: str) -> None:
    response = api.get(f"/{resource}/", {"order_by": value})
    assert response.status_code == 400
    body = response.json()
    assert body["type"] == "validation_error" and body["attr"] == "order_by"
    assert body["code"] == "invalid_choice" and "not one of the available choices" in body["detail"]


def test_dataset_search(api: PhApi) -> None:
    def names(search: str) -> list[str]:
        return sorted(r["name"] for r in api.ok("/datasets/", {"search": search})["results"])

    assert names("GOLDEN") == ["support-golden-set"]  # name, case-insensitive
    assert names("deutsch") == ["Évaluation multilingue"]  # description
    assert names("regression") == ["rag-regressions"]
    assert names('"owner": "support"') == ["support-golden-set"]  # metadata as jsonb text
    assert names("dialect") == []
    assert len(names("")) == 3


def test_id_in_filter(api: PhApi, ph: Emulator) -> None:
    ids = ph.posthog.dataset_ids()
    body = api.ok("/datasets/", {"id__in": f"{ids[0]},{ids[2].upper()}"})
    assert sorted(r["id"] for r in body["results"]) == sorted([ids[0], ids[2]])
    assert body["count"] == 2
    bad = api.get("/datasets/", {"id__in": f"{ids[0]},nope"})
    assert bad.status_code == 400 and bad.json()["attr"] == "id__in"
    evaluations = ph.posthog.evaluation_ids()
    only = api.ok("/evaluations/", {"id__in": evaluations[1]})["results"]
    assert [r["id"] for r in only] == [evaluations[1]]


# items --------------------------------------------------------------------------------------


def test_items_dataset_filter(api: PhApi, ph: Emulator) -> None:
    for dataset in ph.posthog.dataset_ids():
        rows = api.all_pages("/dataset_items/", {"dataset": dataset, "limit": 7})
        assert {r["dataset"] for r in rows} == {dataset}
        assert sorted(r["id"] for r in rows) == sorted(ph.posthog.item_ids(dataset))


@pytest.mark.parametrize("value", ["01990000-0000-7000-8000-000000000000", "garbage"])
def test_items_unknown_dataset_is_400(api: PhApi, value: str) -> None:
    response = api.get("/dataset_items/", {"dataset": value})
    assert response.status_code == 400
    assert response.json() == {
        "type": "validation_error",
        "code": "invalid_choice",
        "detail": "Select a valid choice. That choice is not one of the available choices.",
        "attr": "dataset",
    }


def test_items_fixed_newest_first_order(api: PhApi) -> None:
    plain = api.all_pages("/dataset_items/")
    keys = [(-_ts(r), r["id"]) for r in plain]
    assert keys == sorted(keys)
    # no order_by and no search on items: both are ignored
    ignored = api.all_pages("/dataset_items/", {"order_by": "created_at", "search": "zzz"})
    assert [r["id"] for r in ignored] == [r["id"] for r in plain]


# evaluations -------------------------------------------------------------------------------


def test_evaluation_filters_and_orders(api: PhApi) -> None:
    rows = api.ok("/evaluations/")["results"]
    assert [_ts(r) for r in rows] == sorted((_ts(r) for r in rows), reverse=True)
    assert len(rows) == 4
    for value, expected in (("true", 3), ("1", 3), ("FALSE", 1), ("0", 1), ("maybe", 4)):
        body = api.ok("/evaluations/", {"enabled": value})
        assert body["count"] == expected, value
        if expected < 4:
            want = value.lower() in ("true", "1")
            assert all(r["enabled"] is want for r in body["results"])
    names = [r["name"] for r in api.ok("/evaluations/", {"order_by": "name"})["results"]]
    assert names == sorted(names)
    names_desc = [r["name"] for r in api.ok("/evaluations/", {"order_by": "-name"})["results"]]
    assert names_desc == names[::-1]
    updated = [
        _ts(r, "updated_at") for r in api.ok("/evaluations/", {"order_by": "updated_at"})["results"]
    ]
    assert updated == sorted(updated)
    found = api.ok("/evaluations/", {"search": "SLO"})["results"]
    assert [r["name"] for r in found] == ["Latency under 5 s"]
    assert api.ok("/evaluations/", {"search": "relevance"})["count"] == 1


def test_generated_evaluations(api: PhApi) -> None:
    rows = {r["name"]: r for r in api.ok("/evaluations/")["results"]}
    hog = rows["Output is not empty"]
    assert hog["evaluation_type"] == "hog" and hog["evaluation_config"]["bytecode"]
    assert hog["model_configuration"] is None
    judge = rows["Answer relevance"]
    assert judge["evaluation_type"] == "llm_judge" and judge["output_config"] == {"allows_na": True}
    assert set(judge["model_configuration"]) == {
        "provider",
        "model",
        "provider_key_id",
        "provider_key_name",
    }
    assert rows["Latency under 5 s"]["enabled"] is False
    for row in rows.values():
        assert row["output_type"] == "boolean"
        for condition in row["conditions"]:
            assert {"id", "rollout_percentage", "properties", "bytecode", "bytecode_error"} <= set(
                condition
            )


# soft delete, DELETE, PATCH, PUT ----------------------------------------------------------


@pytest.mark.parametrize("resource", RESOURCES)
def test_delete_is_405_without_body(fapi: PhApi, resource: str) -> None:
    row = fapi.ok(f"/{resource}/")["results"][0]
    response = fapi.request("DELETE", f"/{resource}/{row['id']}/")
    assert response.status_code == 405
    assert response.content == b"" and "Content-Type" not in response.headers
    assert fapi.ok(f"/{resource}/{row['id']}/") == row


@pytest.mark.parametrize("resource", RESOURCES)
def test_soft_delete_hides_and_patch_undeletes(fapi: PhApi, resource: str) -> None:
    before = fapi.ok(f"/{resource}/")
    row = before["results"][0]
    patched = fapi.request("PATCH", f"/{resource}/{row['id']}/", json={"deleted": True})
    assert patched.status_code == 200
    assert patched.json()["deleted"] is True
    assert patched.json()["updated_at"] > row["updated_at"]
    assert fapi.get(f"/{resource}/{row['id']}/").status_code == 404
    after = fapi.ok(f"/{resource}/")
    assert after["count"] == before["count"] - 1
    assert row["id"] not in {r["id"] for r in fapi.all_pages(f"/{resource}/")}
    restored = fapi.request("PATCH", f"/{resource}/{row['id']}", json={"deleted": False})
    assert restored.status_code == 200 and restored.json()["deleted"] is False
    assert restored.json()["updated_at"] > patched.json()["updated_at"]
    assert fapi.ok(f"/{resource}/{row['id']}/")["updated_at"] == restored.json()["updated_at"]


def test_items_of_deleted_dataset_stay_listed(fapi: PhApi, fresh: Emulator) -> None:
    dataset = fresh.posthog.dataset_ids()[0]
    fresh.posthog.soft_delete_dataset(dataset)
    assert fapi.get(f"/datasets/{dataset}/").status_code == 404
    rows = fapi.all_pages("/dataset_items/", {"dataset": dataset})
    assert sorted(r["id"] for r in rows) == sorted(fresh.posthog.item_ids(dataset))
    assert rows


def test_every_save_bumps_updated_at(fapi: PhApi, fresh: Emulator) -> None:
    dataset = fresh.posthog.dataset_ids()[1]
    before = fapi.ok(f"/datasets/{dataset}/")
    noop = fapi.request("PATCH", f"/datasets/{dataset}/", json={}).json()
    assert noop["updated_at"] > before["updated_at"]
    assert {k: v for k, v in noop.items() if k != "updated_at"} == {
        k: v for k, v in before.items() if k != "updated_at"
    }
    put = fapi.request("PUT", f"/datasets/{dataset}/", json={"name": "renamed"}).json()
    assert put["name"] == "renamed" and put["updated_at"] > noop["updated_at"]
    assert put["description"] == before["description"]  # PUT keeps absent optional fields
    item = fresh.posthog.item_ids(dataset)[0]
    fapi.request("PATCH", f"/dataset_items/{item}/", json={"output": "new"})
    assert fapi.ok(f"/datasets/{dataset}/")["updated_at"] == put["updated_at"]


def test_put_requires_fields_and_reaches_deleted_rows(fapi: PhApi, fresh: Emulator) -> None:
    item = fresh.posthog.item_ids()[0]
    fresh.posthog.soft_delete_item(item)
    missing = fapi.request("PUT", f"/dataset_items/{item}/", json={"deleted": False})
    assert missing.status_code == 400 and missing.json()["attr"] == "dataset"
    dataset = fresh.posthog.get_item(item)["dataset"]
    put = fapi.request(
        "PUT", f"/dataset_items/{item}/", json={"dataset": dataset, "deleted": False}
    )
    assert put.status_code == 200 and fapi.get(f"/dataset_items/{item}/").status_code == 200
    evaluation = fresh.posthog.evaluation_ids()[0]
    response = fapi.request("PUT", f"/evaluations/{evaluation}/", json={"name": "x"})
    assert response.status_code == 400 and response.json()["attr"] == "evaluation_type"


def test_methods_not_routed_are_405(fapi: PhApi) -> None:
    response = fapi.request("PUT", "/datasets/", json={})
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"
    assert response.headers["Allow"] == "GET, POST"
    assert fapi.get("/evaluation_runs/").status_code == 405
    assert fapi.get("/query/").status_code == 405


# create and validation ----------------------------------------------------------------------


def test_create_dataset_ignores_read_only_fields(fapi: PhApi, fresh: Emulator) -> None:
    body = {
        "name": "  new set  ",
        "metadata": {"k": [1, 2]},
        "id": "01990000-0000-7000-8000-000000000000",
        "team": 99,
        "created_by": {"id": 3},
        "created_at": "2001-01-01T00:00:00Z",
        "unknown": "ignored",
    }
    response = fapi.request("POST", "/datasets/", json=body)
    assert response.status_code == 201
    row = response.json()
    assert row["name"] == "new set" and row["metadata"] == {"k": [1, 2]}
    assert row["id"] != body["id"] and row["team"] == 1 and "unknown" not in row
    assert row["created_by"]["id"] == 1 and row["created_at"] > "2026"
    assert row["description"] is None and row["deleted"] is False
    assert fapi.ok("/datasets/")["results"][0]["id"] == row["id"]  # newest first
    assert row["id"][14] == "7"  # UUIDv7


@pytest.mark.parametrize(
    ("body", "attr", "code"),
    [
        ({}, "name", "required"),
        ({"name": "   "}, "name", "blank"),
        ({"name": None}, "name", "null"),
        ({"name": "x" * 401}, "name", "max_length"),
        ({"name": {"a": 1}}, "name", "invalid"),
        ({"name": "ok", "deleted": "perhaps"}, "deleted", "invalid"),
    ],
)
def test_dataset_validation(fapi: PhApi, body: dict[str, Any], attr: str, code: str) -> None:
    response = fapi.request("POST", "/datasets/", json=body)
    assert response.status_code == 400
    error = response.json()
    assert (error["type"], error["attr"], error["code"]) == ("validation_error", attr, code)
    assert error["detail"]


def test_malformed_bodies(fapi: PhApi) -> None:
    garbled = fapi.request(
        "POST", "/datasets/", data=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert garbled.status_code == 400 and garbled.json()["code"] == "parse_error"
    listed = fapi.request("POST", "/datasets/", json=[1])
    assert listed.status_code == 400 and "Expected a dictionary" in listed.json()["detail"]


def test_create_item(fapi: PhApi, fresh: Emulator) -> None:
    dataset = fresh.posthog.dataset_ids()[2]
    body = {
        "dataset": dataset,
        "input": {"q": "hi"},
        "ref_timestamp": "2026-10-30T10:00:00+02:00",
        "ref_trace_id": "trace-1",
    }
    created = fapi.request("POST", "/dataset_items/", json=body)
    assert created.status_code == 201
    row = created.json()
    assert row["ref_timestamp"] == "2026-10-30T08:00:00Z"  # UTC, no fraction when it is 0
    assert row["output"] is None and row["dataset"] == dataset
    newest = fapi.ok("/dataset_items/", {"dataset": dataset})["results"][0]
    assert newest["id"] == row["id"]
    cases = [
        ({"input": 1}, "dataset", "required"),
        ({"dataset": "01990000-0000-7000-8000-000000000000"}, "dataset", "does_not_exist"),
        ({"dataset": "nope"}, "dataset", "invalid"),
        ({"dataset": 5}, "dataset", "incorrect_type"),
        ({"dataset": dataset, "ref_timestamp": "yesterday"}, "ref_timestamp", "invalid"),
        ({"dataset": dataset, "ref_source_id": "s" * 256}, "ref_source_id", "max_length"),
    ]
    for bad, attr, code in cases:
        error = fapi.request("POST", "/dataset_items/", json=bad).json()
        assert (error["attr"], error["code"]) == (attr, code), bad


def test_create_evaluations(fapi: PhApi) -> None:
    hog = {
        "name": "custom",
        "evaluation_type": "hog",
        "evaluation_config": {"source": "return true"},
        "output_type": "boolean",
        "output_config": {"allows_na": True},
        "conditions": [{"id": "c1", "properties": []}],
    }
    row = fapi.request("POST", "/evaluations/", json=hog).json()
    assert row["evaluation_config"]["bytecode"] and row["output_config"] == {"allows_na": True}
    assert row["enabled"] is False and row["description"] == ""
    assert row["conditions"][0]["rollout_percentage"] == 100
    assert row["conditions"][0]["bytecode_error"] is None
    assert row["id"][14] != "7"  # UUIDT, not v7
    judge = {
        "name": "judge",
        "evaluation_type": "llm_judge",
        "evaluation_config": {"prompt": "  rate it  "},
        "output_type": "boolean",
        "output_config": {},
        "model_configuration": {
            "provider": "openai",
            "model": "gpt-4.1",
            "provider_key_id": "0193a0c4-6a1e-7c2d-9f40-5b8e1d2c3a41",
        },
    }
    made = fapi.request("POST", "/evaluations/", json=judge).json()
    assert made["evaluation_config"] == {"prompt": "rate it"}
    assert made["model_configuration"]["provider_key_name"] == "Team OpenAI key"
    errors = [
        ({**judge, "evaluation_config": {}}, "config"),
        ({**judge, "evaluation_type": "sentiment"}, "evaluation_type"),
        (
            {**judge, "model_configuration": {"provider": "acme", "model": "m"}},
            "model_configuration__provider",
        ),
        (
            {
                **judge,
                "model_configuration": {
                    "provider": "openai",
                    "model": "m",
                    "provider_key_id": "0193a0c4-6a1e-7c2d-9f40-000000000000",
                },
            },
            "model_configuration__provider_key_id",
        ),
        ({**hog, "conditions": [{"rollout_percentage": 130}]}, "conditions"),
    ]
    for body, attr in errors:
        response = fapi.request("POST", "/evaluations/", json=body)
        assert response.status_code == 400 and response.json()["attr"] == attr, body
