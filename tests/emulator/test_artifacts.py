"""Artifact and facet endpoints: consistent with the runs, faulted and rate limited."""

from __future__ import annotations

import hashlib
import warnings
from typing import Any

import pytest
import requests
from datadog_api_client.v2.api.model_lab_api_api import ModelLabAPIApi
from datadog_api_client.v2.model.model_lab_facet_type import ModelLabFacetType

from emulator import Emulator

from .conftest import HEADERS, Api
from .test_conformance import make_client

RATE_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")


def walk(api: Api, run_id: int) -> tuple[str, list[dict[str, Any]]]:
    """Every entry of a run's artifact tree, one directory level per request."""
    body = api.ok(f"/runs/{run_id}/artifacts")["data"]["attributes"]
    root, entries, pending = body["path_in_project"], [], [body["files"]]
    while pending:
        for item in pending.pop():
            entries.append(item)
            if item["is_dir"]:
                below = api.ok(f"/runs/{run_id}/artifacts", {"path": item["path"].rstrip("/")})
                pending.append(below["data"]["attributes"]["files"])
    return root, sorted(entries, key=lambda e: e["path"])


def test_listings_agree_with_runs(api: Api, emu: Emulator) -> None:
    store = emu.model_lab
    project_id = store.project_ids()[0]
    listed = api.ok(f"/projects/{project_id}/artifacts")["data"]["attributes"]["files"]
    sizes = {f["artifact_path"]: f["file_size"] for f in listed}
    runs = api.all_pages("/runs", {"filter[project_id]": project_id})[:40]
    assert runs
    roots: list[str] = []
    walked: dict[str, int] = {}
    for run in runs:
        root, entries = walk(api, int(run["id"]))
        roots.append(root)
        # the walk's root is the run's mlflow_artifact_location below the project
        location = run["attributes"]["mlflow_artifact_location"]
        assert location == f"mlflow-artifacts:///{project_id}/{root}"
        for entry in entries:
            if entry["is_dir"]:
                assert "file_size" not in entry and entry["path"].endswith("/")
            else:
                walked[f"{root}/{entry['path']}"] = entry["file_size"]
    # the walks and the project listing hold the same files of these runs, with the same sizes
    of_these_runs = {
        path: size
        for path, size in sizes.items()
        if any(path.startswith(f"{root}/") for root in roots)
    }
    assert walked == of_these_runs and walked


def test_project_file_outside_runs(fresh: Emulator, fapi: Api) -> None:
    project_id = fresh.model_lab.project_ids()[1]
    before = fresh.model_lab.get_project(project_id)["attributes"]["updated_at"]
    created = fapi.control(
        "POST",
        f"/model-lab/projects/{project_id}/artifacts",
        json={"artifact_path": "datasets/train.csv", "file_size": 70_000},
    )
    assert created.status_code == 204
    assert fresh.model_lab.get_project(project_id)["attributes"]["updated_at"] > before
    files = fapi.ok(f"/projects/{project_id}/artifacts")["data"]["attributes"]["files"]
    (own,) = [f for f in files if f["artifact_path"] == "datasets/train.csv"]
    assert own["filename"] == "train.csv" and own["file_size"] == 70_000
    params = {"project_id": str(project_id), "artifact_path": "datasets/train.csv"}
    first, second = fapi.get("/artifacts/content", params), fapi.get("/artifacts/content", params)
    assert first.status_code == 200 and len(first.content) == 70_000
    assert hashlib.sha256(first.content).digest() == hashlib.sha256(second.content).digest()
    # no run lists it, and another project cannot read it
    other = {
        "project_id": str(fresh.model_lab.project_ids()[0]),
        "artifact_path": "datasets/train.csv",
    }
    assert fapi.get("/artifacts/content", other).status_code == 404
    bad = fapi.control(
        "POST", f"/model-lab/projects/{project_id}/artifacts", json={"artifact_path": "x"}
    )
    assert bad.status_code == 400 and "file_size" in bad.text
    fresh.model_lab.delete_project(project_id)
    assert fapi.get("/artifacts/content", params).status_code == 404


def test_hostile_paths_are_served_verbatim(fresh: Emulator, fapi: Api) -> None:
    """The emulator can play a hostile API: labsync must refuse these paths, not the server."""
    project_id = fresh.model_lab.project_ids()[0]
    for path in ("../../outside.bin", "/etc/owned.bin"):
        fresh.model_lab.add_project_file(project_id, path, 16)
    files = fapi.ok(f"/projects/{project_id}/artifacts")["data"]["attributes"]["files"]
    assert {"../../outside.bin", "/etc/owned.bin"} <= {f["artifact_path"] for f in files}
    content = fapi.get(
        "/artifacts/content", {"project_id": str(project_id), "artifact_path": "/etc/owned.bin"}
    )
    assert content.status_code == 200 and len(content.content) == 16


def test_deep_explicit_tree_walks_level_by_level(fresh: Emulator, fapi: Api) -> None:
    run_id = fresh.model_lab.run_ids()[3]
    deep = "/".join(f"d{i}" for i in range(12)) + "/leaf.txt"
    fresh.model_lab.update_run(run_id, artifacts={deep: 5, "top.txt": 7})
    _root, entries = walk(fapi, run_id)
    assert [e["path"] for e in entries if not e["is_dir"]] == [deep, "top.txt"]
    assert sum(e["is_dir"] for e in entries) == 12


@pytest.mark.parametrize(
    "path",
    [
        "/project-facet-keys",
        "/project-facet-values?facet_type=tag&facet_name=team",
        "/facet-keys?filter[project_id]=1",
        "/facet-values?filter[project_id]=1&facet_type=metric&facet_name=loss",
        "/runs/5/artifacts",
        "/projects/1/artifacts",
    ],
)
def test_faults_and_rate_limits_apply(fresh: Emulator, fapi: Api, path: str) -> None:
    fresh.faults.inject("503", path_pattern=path.split("?")[0])
    assert fapi.get(path).status_code == 503
    fresh.rate_limit = (2, 60)
    try:
        answers = [fapi.get(path) for _ in range(3)]
    finally:
        fresh.rate_limit = None
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert all(h in answers[0].headers for h in RATE_HEADERS)


def test_content_faults_apply(fresh: Emulator, fapi: Api) -> None:
    project_id = fresh.model_lab.project_ids()[0]
    fresh.model_lab.add_project_file(project_id, "blob.bin", 3_000_000)
    params = {"project_id": str(project_id), "artifact_path": "blob.bin"}
    fresh.faults.inject("429", path_pattern="/artifacts/content")
    assert fapi.get("/artifacts/content", params).status_code == 429
    fresh.faults.inject("drop", path_pattern="/artifacts/content")
    with pytest.raises(requests.ConnectionError):
        fapi.get("/artifacts/content", params)
    assert len(fapi.get("/artifacts/content", params).content) == 3_000_000
    # the body is generated chunk by chunk, never held whole
    size, chunks = fresh.model_lab.open_artifact(project_id, "blob.bin")
    first = next(chunks)
    assert size == 3_000_000 and 0 < len(first) <= 256 * 1024


def test_client_deserializes_every_facet_type_and_project_files(fresh: Emulator) -> None:
    project_id = fresh.model_lab.project_ids()[0]
    fresh.model_lab.add_project_file(project_id, "datasets/eval.jsonl", 1234)
    with (
        warnings.catch_warnings(),
        make_client(fresh, HEADERS["DD-API-KEY"], HEADERS["DD-APPLICATION-KEY"]) as client,
    ):
        warnings.simplefilter("ignore", UserWarning)  # "Using unstable operation ..."
        api = ModelLabAPIApi(client)
        for facet_type, facet_name in (
            ("attribute", "duration"),
            ("attribute", "name"),
            ("attribute", "owner_id"),
            ("attribute", "status"),
            ("metric", "no-such-metric"),
            ("parameter", "no-such-param"),
        ):
            response = api.list_model_lab_run_facet_values(
                filter_project_id=project_id,
                facet_type=ModelLabFacetType(facet_type),
                facet_name=facet_name,
            )
            assert response.data.attributes.facet_name == facet_name
        files = api.list_model_lab_project_artifacts(project_id=project_id).data.attributes.files
        own = [f for f in files if f.artifact_path == "datasets/eval.jsonl"]
        assert own and own[0].file_size == 1234
        handle = api.get_model_lab_artifact_content(
            project_id=str(project_id), artifact_path="datasets/eval.jsonl"
        )
        try:
            assert len(handle.read()) == 1234
        finally:
            handle.close()


def test_new_run_artifacts_are_created_now(fresh: Emulator, fapi: Api) -> None:
    """A file logged to an old run is created when logged; unchanged files keep their time."""
    store = fresh.model_lab
    run_id = next(i for i in store.run_ids() if walk(fapi, i)[1])
    project_id = store.get_run(run_id)["attributes"]["project_id"]
    root, entries = walk(fapi, run_id)
    kept = next(e for e in entries if not e["is_dir"])

    def created() -> dict[str, str]:
        files = fapi.ok(f"/projects/{project_id}/artifacts")["data"]["attributes"]["files"]
        return {f["artifact_path"]: f["created_at"] for f in files}

    before = created()
    store.update_run(run_id, artifacts={kept["path"]: kept["file_size"], "late/extra.bin": 9})
    after = created()
    assert after[f"{root}/{kept['path']}"] == before[f"{root}/{kept['path']}"]
    assert after[f"{root}/late/extra.bin"] > max(before.values())
