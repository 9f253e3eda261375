"""Every Model Lab endpoint deserializes with the official client (datadog-api-client 2.62.0)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from datadog_api_client import ApiClient, Configuration
from datadog_api_client.exceptions import ForbiddenException, NotFoundException
from datadog_api_client.v2.api.model_lab_api_api import ModelLabAPIApi
from datadog_api_client.v2.model.model_lab_facet_type import ModelLabFacetType
from datadog_api_client.v2.model.model_lab_project_facet_type import ModelLabProjectFacetType

from emulator import Emulator

from .conftest import HEADERS

OPERATIONS = (
    "delete_model_lab_run",
    "get_model_lab_artifact_content",
    "get_model_lab_project",
    "get_model_lab_run",
    "list_model_lab_project_artifacts",
    "list_model_lab_project_facet_keys",
    "list_model_lab_project_facet_values",
    "list_model_lab_projects",
    "list_model_lab_run_artifacts",
    "list_model_lab_run_facet_keys",
    "list_model_lab_run_facet_values",
    "list_model_lab_runs",
    "pin_model_lab_run",
    "star_model_lab_project",
    "unpin_model_lab_run",
    "unstar_model_lab_project",
)


def make_client(emu: Emulator, api_key: str, app_key: str) -> ApiClient:
    configuration = Configuration(
        host=emu.base_url, api_key={"apiKeyAuth": api_key, "appKeyAuth": app_key}
    )
    for operation in OPERATIONS:
        configuration.unstable_operations[operation] = True  # bare op id (2.62.0 quirk)
    return ApiClient(configuration)


@pytest.fixture(scope="module")
def ml(emu: Emulator) -> Iterator[ModelLabAPIApi]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "Using unstable operation ..."
        with make_client(emu, HEADERS["DD-API-KEY"], HEADERS["DD-APPLICATION-KEY"]) as client:
            yield ModelLabAPIApi(client)


@pytest.fixture(autouse=True)
def _quiet_unstable_warnings() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        yield


def as_dict(model: Any) -> dict[str, Any]:
    return model.to_dict()


def test_list_projects_deserializes(ml: ModelLabAPIApi, emu: Emulator) -> None:
    response = ml.list_model_lab_projects(page_size=100)
    assert len(response.data) == len(emu.model_lab.project_ids())
    assert response.meta.page.total == len(response.data)
    assert response.meta.page.next_number is None
    first = response.data[0]
    assert str(first.type) == "projects"
    assert first.attributes.artifact_storage_location == f"model-lab:///{first.id}"
    deleted = [p for p in response.data if "deleted_at" in as_dict(p)["attributes"]]
    assert deleted, "a soft-deleted project is listed"
    filtered = ml.list_model_lab_projects(filter="anomalies", sort="-updated_at")
    assert [p.attributes.name for p in filtered.data] == ["Détection d'anomalies"]


def test_get_project_deserializes(ml: ModelLabAPIApi, emu: Emulator) -> None:
    project_id = emu.model_lab.project_ids()[0]
    response = ml.get_model_lab_project(project_id=project_id)
    served = emu.model_lab.get_project(project_id)["attributes"]
    assert response.data.id == str(project_id)
    assert response.data.attributes.name == served["name"]
    assert sorted(as_dict(response)["data"]["attributes"]) == sorted(served)


def test_list_runs_pages_deserialize(ml: ModelLabAPIApi, emu: Emulator) -> None:
    run_ids = emu.model_lab.run_ids()
    seen: list[str] = []
    number = 0
    saw_null_params = False
    while True:
        page = ml.list_model_lab_runs(page_size=100, page_number=number)
        seen.extend(run.id for run in page.data)
        saw_null_params |= any(run.attributes.params is None for run in page.data)
        if page.meta.page.next_number is None:
            break
        number = page.meta.page.next_number
    assert sorted(int(i) for i in seen) == run_ids
    assert saw_null_params, "at least one page carries a run with params: null"


def test_list_runs_with_filters_deserialize(ml: ModelLabAPIApi, emu: Emulator) -> None:
    parent = next(i for i in emu.model_lab.run_ids() if emu.model_lab.children(i))
    project_id = emu.model_lab.get_run(parent)["attributes"]["project_id"]
    response = ml.list_model_lab_runs(
        filter_project_id=project_id,
        filter_status="completed",
        filter_parent_run_id=str(parent),
        sort="-duration",
        include_descendant_matches=True,
        include_pinned=True,
        pinned_first=True,
        page_size=10,
    )
    assert response.data
    assert all(
        run.attributes.status.value == "completed" or run.attributes.descendant_match
        for run in response.data
    )
    by_params = ml.list_model_lab_runs(filter_params="learning_rate:>0", filter_tags="mlflow.user")
    assert by_params.meta.page.total > 0


def test_get_run_deserializes(ml: ModelLabAPIApi, emu: Emulator) -> None:
    for run_id in emu.model_lab.run_ids()[:40]:
        response = ml.get_model_lab_run(run_id=run_id)
        assert (
            as_dict(response)["data"]["attributes"]["name"]
            == (emu.model_lab.get_run(run_id)["attributes"]["name"])
        )


def test_facets_deserialize(ml: ModelLabAPIApi, emu: Emulator) -> None:
    keys = ml.list_model_lab_project_facet_keys()
    assert keys.data.attributes.metrics is None
    assert "team" in keys.data.attributes.tags
    values = ml.list_model_lab_project_facet_values(
        facet_type=ModelLabProjectFacetType.TAG, facet_name="team"
    )
    assert values.data.id == "tag:team"
    assert values.data.attributes.values
    project_id = emu.model_lab.project_ids()[0]
    run_keys = ml.list_model_lab_run_facet_keys(filter_project_id=project_id)
    assert run_keys.data.id == str(project_id)
    assert run_keys.data.attributes.metrics and run_keys.data.attributes.parameters
    samples = {
        "parameter": run_keys.data.attributes.parameters[0],
        "attribute": "status",
        "tag": "mlflow.user",
        "metric": "loss",
    }
    for facet_type, facet_name in samples.items():
        response = ml.list_model_lab_run_facet_values(
            filter_project_id=project_id,
            facet_type=ModelLabFacetType(facet_type),
            facet_name=facet_name,
        )
        assert response.data.id == f"{facet_type}:{facet_name}:{project_id}"
        if facet_type == "metric":
            assert response.data.attributes.numeric_range.min <= (
                response.data.attributes.numeric_range.max
            )
            assert {r.stat for r in response.data.attributes.metric_stat_ranges} >= {"min", "max"}
        else:
            assert response.data.attributes.values


def test_artifacts_deserialize(ml: ModelLabAPIApi, emu: Emulator) -> None:
    store = emu.model_lab
    run_id = next(
        i
        for i in store.run_ids()
        if any(f["path"] == "plots/" for f in store.run_artifacts(i, "")[1])
    )
    top = ml.list_model_lab_run_artifacts(run_id=run_id)
    assert top.data.attributes.path_in_project.endswith("/artifacts")
    assert any(f.is_dir and f.path == "plots/" for f in top.data.attributes.files)
    nested = ml.list_model_lab_run_artifacts(run_id=run_id, path="plots/confusion")
    assert nested.data.attributes.files
    assert all(f.path.startswith("plots/confusion/") for f in nested.data.attributes.files)
    project_id = store.get_run(run_id)["attributes"]["project_id"]
    files = ml.list_model_lab_project_artifacts(project_id=project_id).data.attributes.files
    assert files and all(f.file_size > 0 for f in files)
    small = min(files, key=lambda f: f.file_size)
    handle = ml.get_model_lab_artifact_content(
        project_id=str(project_id), artifact_path=small.artifact_path
    )
    try:
        assert len(handle.read()) == small.file_size
    finally:
        handle.close()


def test_mutating_operations(emu: Emulator) -> None:
    with make_client(emu, "other-api-key", "conformance-user") as client:
        api = ModelLabAPIApi(client)
        project_id = emu.model_lab.project_ids()[1]
        run_id = emu.model_lab.run_ids()[-1]
        before = emu.model_lab.get_run(run_id)["attributes"]["updated_at"]
        api.star_model_lab_project(project_id=project_id)
        assert api.get_model_lab_project(project_id=project_id).data.attributes.is_starred
        api.unstar_model_lab_project(project_id=project_id)
        assert not api.get_model_lab_project(project_id=project_id).data.attributes.is_starred
        api.pin_model_lab_run(run_id=run_id)
        assert api.get_model_lab_run(run_id=run_id).data.attributes.is_pinned
        api.unpin_model_lab_run(run_id=run_id)
        assert not api.get_model_lab_run(run_id=run_id).data.attributes.is_pinned
        assert emu.model_lab.get_run(run_id)["attributes"]["updated_at"] == before
        with pytest.raises(NotFoundException):
            api.pin_model_lab_run(run_id=10**9)
        with pytest.raises(NotFoundException):
            api.star_model_lab_project(project_id=10**6)


def test_delete_through_client() -> None:
    with Emulator(seed=5, projects=3, runs=50) as emu, make_client(emu, "k", "a") as client:
        api = ModelLabAPIApi(client)
        run_id = emu.model_lab.run_ids()[0]
        api.delete_model_lab_run(run_id=run_id)
        with pytest.raises(NotFoundException) as info:
            api.get_model_lab_run(run_id=run_id)
        assert "run not found" in str(info.value.body)
        assert run_id not in emu.model_lab.run_ids()


def test_wrong_keys_raise_forbidden() -> None:
    with (
        Emulator(seed=5, projects=3, runs=20, api_key="right", app_key="right-app") as emu,
        make_client(emu, "wrong", "right-app") as client,
        pytest.raises(ForbiddenException),
    ):
        ModelLabAPIApi(client).list_model_lab_runs()
