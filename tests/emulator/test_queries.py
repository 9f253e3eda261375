"""Every sort and every /runs and /projects filter, checked against the served data."""

from __future__ import annotations

import math
from typing import Any

import pytest

from emulator import Emulator

from .conftest import Api

RunList = list[dict[str, Any]]


@pytest.fixture(scope="module")
def all_runs(api: Api) -> RunList:
    return api.all_pages("/runs")


def ids(items: RunList) -> list[int]:
    return [int(item["id"]) for item in items]


def param_map(run: dict[str, Any]) -> dict[str, str]:
    return {p["key"]: p["value"] for p in run["attributes"]["params"] or []}


def tag_map(run: dict[str, Any]) -> dict[str, str]:
    return {t["key"]: t["value"] for t in run["attributes"]["tags"]}


def test_default_order_is_updated_desc(all_runs: RunList) -> None:
    keys = [(r["attributes"]["updated_at"], int(r["id"])) for r in all_runs]
    assert keys == sorted(keys, reverse=True)
    assert len({r["attributes"]["updated_at"] for r in all_runs}) == len(all_runs)


@pytest.mark.parametrize("field", ["name", "created_at", "updated_at", "duration"])
@pytest.mark.parametrize("descending", [False, True])
def test_run_sorts(api: Api, all_runs: RunList, field: str, descending: bool) -> None:
    sort = f"-{field}" if descending else field
    served = api.all_pages("/runs", {"sort": sort})
    by_id = {int(r["id"]): r for r in all_runs}

    def key(run_id: int) -> tuple[Any, ...]:
        value = by_id[run_id]["attributes"].get(field)
        if field == "name":
            return (value.encode(), run_id)
        return (value, run_id)

    present = [i for i in by_id if by_id[i]["attributes"].get(field) is not None]
    missing = [i for i in by_id if by_id[i]["attributes"].get(field) is None]
    expected = sorted(present, key=key, reverse=descending)
    expected += sorted(missing, reverse=descending)  # unset values last, ties by id
    assert ids(served) == expected


@pytest.mark.parametrize("field", ["name", "created_at", "updated_at"])
@pytest.mark.parametrize("descending", [False, True])
def test_project_sorts(api: Api, field: str, descending: bool) -> None:
    sort = f"-{field}" if descending else field
    served = api.ok("/projects", {"sort": sort, "page[size]": 100})["data"]
    keys = [(p["attributes"][field], int(p["id"])) for p in served]
    assert keys == sorted(keys, reverse=descending)


def test_filter_id(api: Api, all_runs: RunList) -> None:
    wanted = sorted(ids(all_runs)[::37])
    served = api.all_pages("/runs", {"filter[id]": ",".join(map(str, wanted))})
    assert sorted(ids(served)) == wanted
    repeated = api.session.get(
        f"{api.base}/api/v2/model-lab-api/runs",
        params=[("filter[id]", str(wanted[0])), ("filter[id]", str(wanted[1]))],
        timeout=10,
    ).json()
    assert sorted(ids(repeated["data"])) == wanted[:2]
    assert api.ok("/runs", {"filter[id]": "999999999"})["data"] == []


def test_filter_text(api: Api, all_runs: RunList) -> None:
    needle = "SWEEP"
    served = api.all_pages("/runs", {"filter": needle})
    expected = [
        int(r["id"])
        for r in all_runs
        if needle.lower() in r["attributes"]["name"].lower()
        or needle.lower() in r["attributes"]["description"].lower()
    ]
    assert expected and ids(served) == expected
    unicode_hits = api.all_pages("/runs", {"filter": "réentraînement"})
    assert unicode_hits and all(
        "réentraînement" in r["attributes"]["description"].lower() for r in unicode_hits
    )


def test_filter_owner_status_project(api: Api, all_runs: RunList, emu: Emulator) -> None:
    owner = next(r["attributes"]["owner_id"] for r in all_runs if "owner_id" in r["attributes"])
    served = api.all_pages("/runs", {"filter[owner_id]": owner})
    assert ids(served) == [
        int(r["id"]) for r in all_runs if r["attributes"].get("owner_id") == owner
    ]
    for status in ("pending", "running", "completed", "failed", "killed", "unresponsive", "paused"):
        served = api.all_pages("/runs", {"filter[status]": status})
        expected = [int(r["id"]) for r in all_runs if r["attributes"]["status"] == status]
        assert expected, f"status {status} present"
        assert ids(served) == expected
    for project_id in emu.model_lab.project_ids():
        served = api.all_pages("/runs", {"filter[project_id]": project_id})
        expected = [int(r["id"]) for r in all_runs if r["attributes"]["project_id"] == project_id]
        assert ids(served) == expected
    combined = api.all_pages("/runs", {"filter[project_id]": 1, "filter[status]": "completed"})
    assert ids(combined) == [
        int(r["id"])
        for r in all_runs
        if r["attributes"]["project_id"] == 1 and r["attributes"]["status"] == "completed"
    ]


def test_filter_tags(api: Api, all_runs: RunList) -> None:
    run = next(r for r in all_runs if "dataset" in tag_map(r))
    tags = tag_map(run)
    query = f"dataset:{tags['dataset']},mlflow.user:{tags['mlflow.user']}"
    served = api.all_pages("/runs", {"filter[tags]": query})
    expected = [
        int(r["id"])
        for r in all_runs
        if tag_map(r).get("dataset") == tags["dataset"]
        and tag_map(r).get("mlflow.user") == tags["mlflow.user"]
    ]
    assert int(run["id"]) in expected
    assert ids(served) == expected


def _cmp(actual: str, op: str, value: str) -> bool:
    try:
        a: Any = float(actual)
        b: Any = float(value)
    except ValueError:
        a, b = actual, value
    return {
        ">": a > b,
        ">=": a >= b,
        "<": a < b,
        "<=": a <= b,
        "=": a == b,
        "!=": a != b,
    }[op]


@pytest.mark.parametrize(
    "expression",
    [
        "learning_rate:>0.0005",
        "learning_rate:>=0.0003",
        "batch_size:<64",
        "batch_size:<=64",
        "optimizer:adam",
        "optimizer:!=adam",
        "dropout:=0.1",
        "learning_rate:>0.00005,batch_size:>=32",
    ],
)
def test_filter_params(api: Api, all_runs: RunList, expression: str) -> None:
    conditions = []
    for part in expression.split(","):
        key, rest = part.split(":", 1)
        op = next((o for o in (">=", "<=", "!=", ">", "<", "=") if rest.startswith(o)), "=")
        conditions.append((key, op, rest[len(op) :] if rest.startswith(op) else rest))
    expected = [
        int(r["id"])
        for r in all_runs
        if all(k in param_map(r) and _cmp(param_map(r)[k], op, v) for k, op, v in conditions)
    ]
    served = api.all_pages("/runs", {"filter[params]": expression})
    assert expected, expression
    assert ids(served) == expected


def test_filter_params_booleans(api: Api, all_runs: RunList) -> None:
    served = api.all_pages("/runs", {"filter[params]": "augmentation:true"})
    expected = [int(r["id"]) for r in all_runs if param_map(r).get("augmentation") == "True"]
    assert expected and ids(served) == expected


def test_filter_parent(api: Api, emu: Emulator, all_runs: RunList) -> None:
    store = emu.model_lab
    roots = api.all_pages("/runs", {"filter[parent_run_id]": "null"})
    expected_roots = [int(r["id"]) for r in all_runs if store.parent_of(int(r["id"])) is None]
    assert ids(roots) == expected_roots
    assert len(roots) < len(all_runs), "the default list includes child runs"
    parent = next(int(r["id"]) for r in all_runs if r["attributes"]["has_children"])
    children = api.all_pages("/runs", {"filter[parent_run_id]": parent})
    assert sorted(ids(children)) == store.children(parent)
    assert all(store.parent_of(c) == parent for c in ids(children))
    leaf = next(int(r["id"]) for r in all_runs if not r["attributes"]["has_children"])
    assert api.ok("/runs", {"filter[parent_run_id]": leaf})["data"] == []


def test_tree_has_depth_two(emu: Emulator) -> None:
    store = emu.model_lab
    grandchildren = [
        i
        for i in store.run_ids()
        if (p := store.parent_of(i)) is not None and store.parent_of(p) is not None
    ]
    assert grandchildren, "some sweeps have cross-validation folds under their trials"
    children = [i for i in store.run_ids() if store.parent_of(i) is not None]
    assert 0.2 < len(children) / len(store.run_ids()) < 0.5


def test_include_descendant_matches(api: Api, emu: Emulator, all_runs: RunList) -> None:
    store = emu.model_lab
    fold = next(int(r["id"]) for r in all_runs if r["attributes"]["name"].startswith("fold-"))
    trial = store.parent_of(fold)
    sweep = store.parent_of(trial) if trial is not None else None
    assert trial is not None and sweep is not None
    params = {"filter[id]": fold, "include_descendant_matches": "true"}
    served = {
        int(r["id"]): r["attributes"]["descendant_match"] for r in api.all_pages("/runs", params)
    }
    assert served == {fold: False, trial: True, sweep: True}
    roots_only = api.all_pages("/runs", {**params, "filter[parent_run_id]": "null"})
    assert [(int(r["id"]), r["attributes"]["descendant_match"]) for r in roots_only] == [
        (sweep, True)
    ]
    plain = api.all_pages("/runs", {"filter[id]": fold, "filter[parent_run_id]": "null"})
    assert plain == []


def test_pins_are_per_user(fresh: Emulator) -> None:
    alice = Api(fresh, {"DD-API-KEY": "k", "DD-APPLICATION-KEY": "alice"})
    bob = Api(fresh, {"DD-API-KEY": "k", "DD-APPLICATION-KEY": "bob"})
    store = fresh.model_lab
    run_ids = store.run_ids()
    first, second = run_ids[3], run_ids[-4]
    assert alice.request("POST", f"/runs/{first}/pin").status_code == 204
    assert alice.request("POST", f"/runs/{second}/pin").status_code == 204
    assert alice.ok(f"/runs/{first}")["data"]["attributes"]["is_pinned"] is True
    assert bob.ok(f"/runs/{first}")["data"]["attributes"]["is_pinned"] is False

    # include_pinned adds the caller's pins regardless of filters
    status = "failed"
    other = next(
        s for s in ("completed", "running") if store.get_run(first)["attributes"]["status"] != s
    )
    status = other
    plain = ids(alice.all_pages("/runs", {"filter[status]": status}))
    with_pins = ids(alice.all_pages("/runs", {"filter[status]": status, "include_pinned": "true"}))
    assert set(with_pins) == set(plain) | {first, second}
    assert set(
        ids(bob.all_pages("/runs", {"filter[status]": status, "include_pinned": "true"}))
    ) == set(plain)

    # pinned_first: pinned runs first, newest pin first, then the usual order
    ordered = ids(alice.all_pages("/runs", {"pinned_first": "true"}))
    assert ordered[:2] == [second, first]
    rest = [i for i in ids(alice.all_pages("/runs")) if i not in (first, second)]
    assert ordered[2:] == rest
    listed = alice.ok("/runs", {"pinned_first": "true"})["data"]
    assert [r["attributes"]["is_pinned"] for r in listed[:3]] == [True, True, False]

    assert alice.request("DELETE", f"/runs/{second}/pin").status_code == 204
    assert ids(alice.all_pages("/runs", {"pinned_first": "true"}))[0] == first


def test_stars_are_per_user(fresh: Emulator) -> None:
    alice = Api(fresh, {"DD-API-KEY": "k", "DD-APPLICATION-KEY": "alice"})
    bob = Api(fresh, {"DD-API-KEY": "k", "DD-APPLICATION-KEY": "bob"})
    project_id = fresh.model_lab.project_ids()[0]
    before = fresh.model_lab.get_project(project_id)["attributes"]["updated_at"]
    assert alice.request("POST", f"/projects/{project_id}/star").status_code == 204
    assert alice.ok(f"/projects/{project_id}")["data"]["attributes"]["is_starred"] is True
    assert bob.ok(f"/projects/{project_id}")["data"]["attributes"]["is_starred"] is False
    listed = {p["id"]: p["attributes"]["is_starred"] for p in alice.ok("/projects")["data"]}
    assert listed[str(project_id)] is True
    assert alice.request("DELETE", f"/projects/{project_id}/star").status_code == 204
    assert alice.ok(f"/projects/{project_id}")["data"]["attributes"]["is_starred"] is False
    assert fresh.model_lab.get_project(project_id)["attributes"]["updated_at"] == before


def test_project_filters(api: Api) -> None:
    projects = api.ok("/projects", {"page[size]": 100})["data"]
    owner = next(p["attributes"]["owner_id"] for p in projects if "owner_id" in p["attributes"])
    served = api.ok("/projects", {"filter[owner_id]": owner})["data"]
    assert [p["id"] for p in served] == [
        p["id"] for p in projects if p["attributes"].get("owner_id") == owner
    ]
    team = projects[0]["attributes"]["tags"][0]
    served = api.ok("/projects", {"filter[tags]": f"{team['key']}:{team['value']}"})["data"]
    assert projects[0]["id"] in [p["id"] for p in served]
    assert all(team in p["attributes"]["tags"] for p in served)
    assert [p["attributes"]["name"] for p in api.ok("/projects", {"filter": "日本語"})["data"]] == [
        "日本語モデル評価"
    ]


def test_filtered_total_and_last_number(api: Api, all_runs: RunList) -> None:
    body = api.ok("/runs", {"filter[status]": "completed", "page[size]": 7})
    total = sum(1 for r in all_runs if r["attributes"]["status"] == "completed")
    assert body["meta"]["page"]["total"] == total
    assert body["meta"]["page"]["last_number"] == math.ceil(total / 7) - 1


@pytest.mark.parametrize("sort", ["name", "-created_at", "updated_at", "-updated_at", "duration"])
def test_children_keep_the_listing_order(api: Api, emu: Emulator, sort: str) -> None:
    store = emu.model_lab
    listing = ids(api.all_pages("/runs", {"sort": sort, "page[size]": 100}))
    parents = [run_id for run_id in listing if store.children(run_id)][:5]
    assert parents
    for parent in parents:
        served = api.all_pages("/runs", {"sort": sort, "filter[parent_run_id]": parent})
        assert ids(served) == [r for r in listing if store.parent_of(r) == parent]
    assert api.ok("/runs", {"filter[parent_run_id]": 0})["data"] == []
