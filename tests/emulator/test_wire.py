"""Wire format: paging, meta/links, optional fields, errors and auth."""

from __future__ import annotations

import math
import re
import socket
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

from emulator import Emulator

from .conftest import ML, Api

ISO_US = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
ISO_S = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
RUN_REQUIRED = {
    "project_id",
    "name",
    "description",
    "status",
    "created_at",
    "updated_at",
    "started_at",
    "descendant_match",
    "has_children",
    "is_pinned",
    "mlflow_artifact_location",
    "params",
    "tags",
    "metric_summaries",
}
RUN_OPTIONAL = {"completed_at", "duration", "external_url", "owner_id", "deleted_at"}


def test_default_paging_is_zero_based_size_25(api: Api, emu: Emulator) -> None:
    body = api.ok("/runs")
    total = len(emu.model_lab.run_ids())
    assert len(body["data"]) == 25
    assert body["meta"]["page"] == {
        "type": "number_size",
        "number": 0,
        "size": 25,
        "total": total,
        "first_number": 0,
        "prev_number": None,
        "next_number": 1,
        "last_number": math.ceil(total / 25) - 1,
    }
    links = body["links"]
    assert "prev" not in links
    assert links["self"] == f"{emu.base_url}{ML}/runs"
    assert links["first"] == f"{emu.base_url}{ML}/runs?page[number]=0&page[size]=25"
    assert links["next"] == f"{emu.base_url}{ML}/runs?page[number]=1&page[size]=25"
    assert links["last"].endswith(f"page[number]={math.ceil(total / 25) - 1}&page[size]=25")


def test_last_page_and_beyond(api: Api, emu: Emulator) -> None:
    total = len(emu.model_lab.run_ids())
    last = math.ceil(total / 100) - 1
    body = api.ok("/runs", {"page[size]": 100, "page[number]": last})
    assert len(body["data"]) == total - last * 100
    assert body["meta"]["page"]["next_number"] is None
    assert body["meta"]["page"]["prev_number"] == last - 1
    assert "next" not in body["links"] and "prev" in body["links"]
    beyond = api.ok("/runs", {"page[size]": 100, "page[number]": last + 5})
    assert beyond["data"] == []
    assert beyond["meta"]["page"]["next_number"] is None
    assert beyond["meta"]["page"]["number"] == last + 5


def test_pages_partition_the_listing(api: Api, emu: Emulator) -> None:
    ids = [int(r["id"]) for r in api.all_pages("/runs", {"page[size]": 37})]
    assert len(ids) == len(set(ids)) == len(emu.model_lab.run_ids())


def test_links_keep_filters_with_raw_brackets(api: Api, emu: Emulator) -> None:
    project_id = emu.model_lab.project_ids()[0]
    params = {"filter[project_id]": project_id, "sort": "-created_at", "page[size]": 10}
    body = api.ok("/runs", params)
    next_link = body["links"]["next"]
    assert "filter[project_id]=" in next_link and "%5B" not in next_link
    assert next_link.startswith(emu.base_url)
    query = dict(parse_qsl(urlsplit(next_link).query))
    assert query == {
        "filter[project_id]": str(project_id),
        "sort": "-created_at",
        "page[number]": "1",
        "page[size]": "10",
    }
    followed = api.session.get(next_link, timeout=10).json()
    assert followed["meta"]["page"]["number"] == 1
    assert body["links"]["self"].endswith(
        f"runs?filter[project_id]={project_id}&sort=-created_at&page[size]=10"
    )


@pytest.mark.parametrize(
    ("params", "detail"),
    [
        ({"page[size]": 101}, "page[size] must be between 1 and 100"),
        ({"page[size]": 0}, "page[size] must be between 1 and 100"),
        ({"page[size]": "ten"}, "page[size] must be an integer"),
        ({"page[number]": "x"}, "page[number] must be an integer"),
        ({"page[number]": -1}, "page[number] must be a non-negative integer"),
        ({"sort": "-colour"}, "sort must be one of"),
        ({"filter[status]": "done"}, "filter[status] must be one of"),
        ({"filter[project_id]": "abc"}, "filter[project_id] must be an integer"),
        ({"filter[id]": "1,x"}, "filter[id] must be a comma-separated list of integers"),
        ({"filter[parent_run_id]": "root"}, "filter[parent_run_id] must be an integer"),
        ({"include_pinned": "maybe"}, "include_pinned must be true or false"),
        ({"filter[params]": ":>3"}, "filter[params] must look like"),
    ],
)
def test_bad_list_params_are_400(api: Api, params: dict[str, object], detail: str) -> None:
    response = api.get("/runs", params)
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/json"
    (error,) = response.json()["errors"]
    assert error["title"] == "Generic Error"
    assert error["detail"].startswith(detail)


def test_project_list_validation(api: Api) -> None:
    assert api.get("/projects", {"page[size]": 500}).status_code == 400
    assert api.get("/projects", {"sort": "duration"}).status_code == 400
    assert api.get("/projects", {"filter[owner_id]": "not-a-uuid"}).status_code == 400


def test_project_default_order_is_created_desc(api: Api) -> None:
    data = api.ok("/projects")["data"]
    created = [p["attributes"]["created_at"] for p in data]
    assert created == sorted(created, reverse=True)


def test_not_found_bodies(api: Api) -> None:
    assert api.get("/runs/99999999").json() == {
        "errors": [{"title": "Generic Error", "detail": "run not found"}]
    }
    assert api.get("/projects/424242").json() == {
        "errors": [{"title": "Generic Error", "detail": "project not found"}]
    }
    for method, path in [
        ("DELETE", "/runs/99999999"),
        ("POST", "/runs/99999999/pin"),
        ("DELETE", "/runs/99999999/pin"),
        ("GET", "/runs/99999999/artifacts"),
    ]:
        response = api.request(method, path)
        assert response.status_code == 404
        assert response.json()["errors"][0]["detail"] == "run not found"
    for method, path in [
        ("POST", "/projects/424242/star"),
        ("GET", "/projects/424242/artifacts"),
        ("GET", "/facet-keys?filter[project_id]=424242"),
    ]:
        response = api.request(method, path)
        assert response.status_code == 404
        assert response.json()["errors"][0]["detail"] == "project not found"
    assert api.get("/runs/abc").status_code == 400
    assert api.get("/no-such-endpoint").status_code == 404
    assert api.request("PATCH", "/runs").status_code == 405


def test_run_resource_shape(api: Api, emu: Emulator) -> None:
    runs = api.all_pages("/runs")
    seen_optional: set[str] = set()
    for run in runs:
        attrs = run["attributes"]
        assert run["type"] == "runs" and run["id"] == str(int(run["id"]))
        assert RUN_REQUIRED <= set(attrs) <= RUN_REQUIRED | RUN_OPTIONAL
        assert None not in (attrs.get(k, "") for k in RUN_OPTIONAL), "optional fields omitted"
        seen_optional |= set(attrs) & RUN_OPTIONAL
        assert "parent_run_id" not in attrs
        assert ISO_US.match(attrs["created_at"]) and ISO_US.match(attrs["updated_at"])
        assert ISO_MS.match(attrs["started_at"])
        assert attrs["updated_at"] >= attrs["created_at"]
        assert attrs["descendant_match"] is False and attrs["is_pinned"] is False
        assert attrs["params"] is None or all(isinstance(p["value"], str) for p in attrs["params"])
        uuid = emu.model_lab.run_uuid(int(run["id"]))
        assert attrs["mlflow_artifact_location"] == (
            f"mlflow-artifacts:///{attrs['project_id']}/{uuid}/artifacts"
        )
    assert seen_optional == RUN_OPTIONAL
    assert any(r["attributes"]["params"] is None for r in runs)
    assert any(r["attributes"]["metric_summaries"] == [] for r in runs)
    completed_bare = [
        r
        for r in runs
        if r["attributes"]["status"] == "completed" and "completed_at" not in r["attributes"]
    ]
    assert completed_bare, "some completed runs lack completed_at"


def test_project_resource_shape(api: Api) -> None:
    for project in api.ok("/projects", {"page[size]": 100})["data"]:
        attrs = project["attributes"]
        assert {"artifact_storage_location", "created_at", "updated_at", "description"} <= set(
            attrs
        )
        assert {"is_starred", "name", "tags"} <= set(attrs)
        assert all(v is not None for v in attrs.values())
        assert ISO_US.match(attrs["created_at"])


def test_204_has_no_body_and_no_content_type(fapi: Api, fresh: Emulator) -> None:
    run_id = fresh.model_lab.run_ids()[0]
    response = fapi.request("POST", f"/runs/{run_id}/pin")
    assert response.status_code == 204
    assert response.content == b""
    assert "Content-Type" not in response.headers


def test_project_artifact_timestamps_have_second_precision(api: Api, emu: Emulator) -> None:
    project_id = emu.model_lab.project_ids()[0]
    files = api.ok(f"/projects/{project_id}/artifacts")["data"]["attributes"]["files"]
    assert files
    assert all(ISO_S.match(f["created_at"]) for f in files)
    assert all(f["filename"] == f["artifact_path"].rsplit("/", 1)[-1] for f in files)


def test_artifact_content_streams_exact_bytes(api: Api, emu: Emulator) -> None:
    project_id = emu.model_lab.project_ids()[0]
    files = api.ok(f"/projects/{project_id}/artifacts")["data"]["attributes"]["files"]
    picks = [min(files, key=lambda f: f["file_size"]), max(files, key=lambda f: f["file_size"])]
    for file in picks:
        params = {"project_id": str(project_id), "artifact_path": file["artifact_path"]}
        first = api.get("/artifacts/content", params)
        second = api.get("/artifacts/content", params)
        assert first.status_code == 200
        assert first.headers["Content-Type"] == "application/octet-stream"
        assert len(first.content) == file["file_size"] == int(first.headers["Content-Length"])
        assert first.content == second.content
    assert api.get("/artifacts/content", {"project_id": "1"}).status_code == 400
    assert api.get("/artifacts/content", {"artifact_path": "x"}).status_code == 400
    missing = api.get("/artifacts/content", {"project_id": "1", "artifact_path": "nope/a.txt"})
    assert missing.status_code == 404
    other_project = api.get(
        "/artifacts/content",
        {"project_id": str(project_id + 1), "artifact_path": picks[0]["artifact_path"]},
    )
    assert other_project.status_code == 404


def test_run_artifact_listing_levels(api: Api, emu: Emulator) -> None:
    store = emu.model_lab
    run_id = next(
        i
        for i in store.run_ids()
        if any(f["path"] == "plots/" for f in store.run_artifacts(i, "")[1])
    )
    top = api.ok(f"/runs/{run_id}/artifacts")["data"]
    assert top["id"] == str(run_id) and top["type"] == "artifacts"
    uuid = store.run_uuid(run_id)
    assert top["attributes"]["path_in_project"] == f"{uuid}/artifacts"
    dirs = [f for f in top["attributes"]["files"] if f["is_dir"]]
    assert dirs and all("file_size" not in f and f["path"].endswith("/") for f in dirs)
    plots = api.ok(f"/runs/{run_id}/artifacts", {"path": "plots/"})["data"]["attributes"]["files"]
    assert {"path": "plots/confusion/", "is_dir": True} in plots
    nested = api.ok(f"/runs/{run_id}/artifacts", {"path": "plots/confusion"})["data"]
    assert all(not f["is_dir"] and f["file_size"] > 0 for f in nested["attributes"]["files"])
    assert api.get(f"/runs/{run_id}/artifacts", {"path": "../etc"}).status_code == 400
    empty = api.ok(f"/runs/{run_id}/artifacts", {"path": "does-not-exist"})
    assert empty["data"]["attributes"]["files"] == []


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"DD-API-KEY": "k"},
        {"DD-APPLICATION-KEY": "a"},
        {"DD-API-KEY": "", "DD-APPLICATION-KEY": "a"},
    ],
)
def test_missing_keys_are_403(emu: Emulator, headers: dict[str, str]) -> None:
    response = requests.get(f"{emu.base_url}{ML}/runs", headers=headers, timeout=10)
    assert response.status_code == 403
    (error,) = response.json()["errors"]
    assert error["title"] == "Forbidden" and error["detail"]


def test_configured_keys_must_match() -> None:
    with Emulator(seed=2, projects=3, runs=10, api_key="api-secret", app_key="app-secret") as emu:
        url = f"{emu.base_url}{ML}/projects"
        good = {"DD-API-KEY": "api-secret", "DD-APPLICATION-KEY": "app-secret"}
        assert requests.get(url, headers=good, timeout=10).status_code == 200
        for bad in (
            {**good, "DD-API-KEY": "api-secreT"},
            {**good, "DD-APPLICATION-KEY": "nope"},
        ):
            response = requests.get(url, headers=bad, timeout=10)
            assert response.status_code == 403
            assert "secret" not in response.text


def test_facet_validation(api: Api) -> None:
    assert api.get("/facet-keys").status_code == 400
    assert api.get("/facet-keys", {"filter[project_id]": "x"}).status_code == 400
    params = {"filter[project_id]": 1, "facet_type": "colour", "facet_name": "x"}
    assert api.get("/facet-values", params).status_code == 400
    assert (
        api.get("/facet-values", {"filter[project_id]": 1, "facet_type": "tag"}).status_code == 400
    )
    assert api.get("/project-facet-values", {"facet_type": "tag"}).status_code == 400
    bad_type = {"facet_type": "parameter", "facet_name": "x"}
    assert api.get("/project-facet-values", bad_type).status_code == 400


def test_facet_values_cover_the_project(api: Api, emu: Emulator) -> None:
    project_id = emu.model_lab.project_ids()[0]
    runs = api.all_pages("/runs", {"filter[project_id]": project_id})
    keys = api.ok("/facet-keys", {"filter[project_id]": project_id})["data"]["attributes"]
    assert keys["parameters"] == sorted(
        {p["key"] for r in runs for p in r["attributes"]["params"] or []}
    )
    assert keys["metrics"] == sorted(
        {m["key"] for r in runs for m in r["attributes"]["metric_summaries"]}
    )
    assert keys["tags"] == sorted({t["key"] for r in runs for t in r["attributes"]["tags"]})
    lr = api.ok(
        "/facet-values",
        {
            "filter[project_id]": project_id,
            "facet_type": "parameter",
            "facet_name": "learning_rate",
        },
    )["data"]["attributes"]
    expected = {
        p["value"]
        for r in runs
        for p in r["attributes"]["params"] or []
        if p["key"] == "learning_rate"
    }
    assert set(lr["values"]) == expected
    numbers = sorted(float(v) for v in expected)
    assert lr["numeric_range"] == {"min": numbers[0], "max": numbers[-1]}
    loss = api.ok(
        "/facet-values",
        {"filter[project_id]": project_id, "facet_type": "metric", "facet_name": "loss"},
    )["data"]["attributes"]
    latest = [
        m["latest"] for r in runs for m in r["attributes"]["metric_summaries"] if m["key"] == "loss"
    ]
    assert loss["numeric_range"] == {"min": min(latest), "max": max(latest)}
    stats = {r["stat"]: r for r in loss["metric_stat_ranges"]}
    assert stats["min"]["min"] <= stats["max"]["max"]
    status = api.ok(
        "/facet-values",
        {"filter[project_id]": project_id, "facet_type": "attribute", "facet_name": "status"},
    )["data"]["attributes"]["values"]
    assert set(status) == {r["attributes"]["status"] for r in runs}


def _raw_exchange(emu: Emulator, request: bytes) -> bytes:
    """Send raw bytes, return everything the server sends until it closes the connection."""
    host, port = urlsplit(emu.base_url).netloc.split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received


def test_request_headers_are_case_insensitive_and_connection_close_is_honoured(
    emu: Emulator,
) -> None:
    answer = _raw_exchange(
        emu,
        f"GET {ML}/projects?page%5Bsize%5D=1 HTTP/1.1\r\nHost: x\r\n"
        "dd-api-key: k\r\nDD-Application-Key: a\r\nConnection: close\r\n\r\n".encode(),
    )
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert b'"data":[{' in answer


def test_http_1_0_without_keep_alive_closes_after_one_answer(emu: Emulator) -> None:
    answer = _raw_exchange(emu, f"GET {ML}/projects HTTP/1.0\r\nDD-API-KEY: k\r\n\r\n".encode())
    assert answer.startswith(b"HTTP/1.1 403 ")  # no application key


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GARBAGE\r\n\r\n", b"400"),
        (b"GET / HTTP/2.0\r\n\r\n", b"400"),
        (b"GET / HTTP/1.1\r\n" + b"X-A: b\r\n" * 101 + b"\r\n", b"431"),
        (b"GET / HTTP/1.1\r\nX-Long: " + b"a" * 70000 + b"\r\n\r\n", b"431"),
    ],
)
def test_malformed_requests_get_an_error_status(
    emu: Emulator, request_bytes: bytes, status: bytes
) -> None:
    assert _raw_exchange(emu, request_bytes).split(b" ")[1] == status
