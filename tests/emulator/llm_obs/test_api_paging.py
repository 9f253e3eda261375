"""Cursor pagination (§B.1): ``page[cursor]`` / ``page[limit]`` / ``meta.after``, fixed order."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from emulator import Emulator
from emulator.llm_obs.api import encode_cursor

from .conftest import LlmApi, small_emulator


@pytest.fixture(scope="module")
def big() -> Iterator[Emulator]:
    """More rows than the default page so every list pages (read-only)."""
    with small_emulator(
        seed=2, llm_obs_projects=3, llm_obs_records=130, llm_obs_experiments=5, llm_obs_spans=23
    ) as emu:
        yield emu


@pytest.fixture(scope="module")
def bapi(big: Emulator) -> LlmApi:
    return LlmApi(big)


def created_desc(items: list[dict[str, Any]]) -> bool:
    keys = [(i.get("attributes", i)["created_at"], i["id"]) for i in items]
    return keys == sorted(keys, reverse=True) and len(set(keys)) == len(keys)


def test_records_default_limit_is_100_and_pages_cover_everything(
    bapi: LlmApi, big: Emulator
) -> None:
    project_id = big.llm_obs.project_ids()[0]
    dataset_id = big.llm_obs.dataset_ids(project_id)[0]
    path = f"/v1/{project_id}/datasets/{dataset_id}/records"
    first = bapi.ok(path)
    assert len(first["data"]) == 100
    assert isinstance(first["meta"]["after"], str)
    everything = bapi.all_pages(path)
    assert [r["id"] for r in everything] == big.llm_obs.record_ids(dataset_id)
    assert created_desc(everything)


@pytest.mark.parametrize("limit", [1, 7, 64])
def test_every_limit_yields_the_same_sequence(bapi: LlmApi, big: Emulator, limit: int) -> None:
    path = "/v1/experiments"
    params = {"filter[project_id]": big.llm_obs.project_ids()[1], "page[limit]": limit}
    items = bapi.all_pages(path, params)
    assert [e["id"] for e in items] == big.llm_obs.experiment_ids(big.llm_obs.project_ids()[1])
    assert created_desc(items)


def test_exact_multiple_has_no_empty_trailing_page(bapi: LlmApi, big: Emulator) -> None:
    project_id = big.llm_obs.project_ids()[0]
    count = len(big.llm_obs.experiment_ids(project_id))
    body = bapi.ok("/v1/experiments", {"filter[project_id]": project_id, "page[limit]": count})
    assert len(body["data"]) == count and body["meta"]["after"] is None


def test_projects_and_datasets_page(bapi: LlmApi, big: Emulator) -> None:
    projects = bapi.all_pages("/v1/projects", {"page[limit]": 1})
    assert [p["id"] for p in projects] == big.llm_obs.project_ids()
    project_id = big.llm_obs.project_ids()[0]
    datasets = bapi.all_pages(f"/v1/{project_id}/datasets", {"page[limit]": 2})
    assert [d["id"] for d in datasets] == big.llm_obs.dataset_ids(project_id)


def test_events_v3_pages_spans_and_repeats_summary(bapi: LlmApi, big: Emulator) -> None:
    experiment_id = next(
        e
        for e in big.llm_obs.experiment_ids()
        if big.llm_obs.get_experiment(e)["attributes"]["status"] == "completed"
    )
    summaries = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"page[limit]": 5, **({"page[cursor]": cursor} if cursor else {})}
        body = bapi.ok(f"/v3/experiments/{experiment_id}/events", params)
        summaries.append(body["data"]["attributes"]["summary_metrics"])
        cursor = body["meta"]["after"]
        pages += 1
        if cursor is None:
            break
    assert pages == 5  # 23 spans in pages of 5
    assert all(s == summaries[0] and s for s in summaries)
    spans = bapi.all_spans(experiment_id, limit=5)
    assert [s["span_id"] for s in spans] == big.llm_obs.span_ids(experiment_id)
    keys = [(s["start_ns"], s["span_id"]) for s in spans]
    assert keys == sorted(keys)


def test_limit_is_clamped_and_validated(bapi: LlmApi, big: Emulator) -> None:
    project_id = big.llm_obs.project_ids()[0]
    body = bapi.ok("/v1/experiments", {"filter[project_id]": project_id, "page[limit]": 999999})
    assert body["meta"]["after"] is None
    for bad in ("0", "-3", "ten"):
        response = bapi.get("/v1/projects", {"page[limit]": bad})
        assert response.status_code == 400
        assert "page[limit]" in response.json()["errors"][0]["detail"]


@pytest.mark.parametrize("cursor", ["garbage!", "eyJub3QiOiJhIGxpc3QifQ", "W10"])
def test_invalid_cursor_is_a_400(bapi: LlmApi, cursor: str) -> None:
    response = bapi.get("/v1/projects", {"page[cursor]": cursor})
    assert response.status_code == 400
    assert "page[cursor]" in response.json()["errors"][0]["detail"]


def test_cursor_of_another_list_is_rejected(bapi: LlmApi, big: Emulator) -> None:
    project_id = big.llm_obs.project_ids()[0]
    after = bapi.ok("/v1/experiments", {"filter[project_id]": project_id, "page[limit]": 1})[
        "meta"
    ]["after"]
    response = bapi.get("/v1/projects", {"page[cursor]": after})
    assert response.status_code == 400
    assert "this list" in response.json()["errors"][0]["detail"]


def test_keyset_cursor_survives_inserts_and_deletes(fapi: LlmApi, fresh: Emulator) -> None:
    store = fresh.llm_obs
    project_id = store.project_ids()[0]
    dataset_id = store.dataset_ids(project_id)[0]
    path = f"/v1/{project_id}/datasets/{dataset_id}/records"
    before = store.record_ids(dataset_id)
    first = fapi.ok(path, {"page[limit]": 10})
    served = [r["id"] for r in first["data"]]
    # a new record (newest, so it sorts before the cursor) and a deleted one on the first page
    store.add_records(dataset_id, [{"input": "late arrival"}])
    store.delete_record(dataset_id, served[0])
    rest = fapi.all_pages(path, {"page[limit]": 10, "page[cursor]": first["meta"]["after"]})
    # all_pages starts from the given cursor: the rest is exactly what followed, no repeats
    assert [r["id"] for r in rest] == before[10:]


def test_records_of_an_earlier_version_page(bapi: LlmApi, big: Emulator) -> None:
    project_id = big.llm_obs.project_ids()[-1]
    dataset_id = big.llm_obs.dataset_ids(project_id)[-1]  # first created: version 2
    path = f"/v1/{project_id}/datasets/{dataset_id}/records"
    old = bapi.all_pages(path, {"filter[version]": 1, "page[limit]": 50})
    assert [r["id"] for r in old] == big.llm_obs.record_ids(dataset_id, version=1)
    assert len(old) == 130
    assert len(bapi.all_pages(path, {"page[limit]": 50})) == 131


def test_forged_cursor_with_wrong_key_types_is_a_400(bapi: LlmApi, big: Emulator) -> None:
    project_id = big.llm_obs.project_ids()[0]
    dataset_id = big.llm_obs.dataset_ids(project_id)[0]
    experiment_id = big.llm_obs.experiment_ids(project_id)[0]
    cases = [
        ("/v1/projects", encode_cursor("projects", [1, 2])),
        (
            f"/v1/{project_id}/datasets/{dataset_id}/records",
            encode_cursor(f"records:{dataset_id}:current", [5, None]),
        ),
        (
            f"/v3/experiments/{experiment_id}/events",
            encode_cursor(f"events:{experiment_id}", ["a", 1]),
        ),
    ]
    for path, cursor in cases:
        response = bapi.get(path, {"page[cursor]": cursor})
        assert response.status_code == 400, path
        assert "page[cursor]" in response.json()["errors"][0]["detail"]
