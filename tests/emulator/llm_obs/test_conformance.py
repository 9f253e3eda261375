"""Every emulated LLM Obs endpoint works through the official client (datadog-api-client 2.62.0,
``AgentObservabilityApi``): GET responses deserialize into the client's models (type-checked),
and the request bodies the client builds for writes are accepted."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from datadog_api_client import ApiClient, Configuration
from datadog_api_client.exceptions import (
    ApiException,
    ForbiddenException,
    NotFoundException,
)
from datadog_api_client.v2.api import agent_observability_api
from datadog_api_client.v2.api.agent_observability_api import AgentObservabilityApi
from datadog_api_client.v2.model.llm_obs_annotation_label_value import LLMObsAnnotationLabelValue
from datadog_api_client.v2.model.llm_obs_annotation_queue_data_attributes_request import (
    LLMObsAnnotationQueueDataAttributesRequest,
)
from datadog_api_client.v2.model.llm_obs_annotation_queue_data_request import (
    LLMObsAnnotationQueueDataRequest,
)
from datadog_api_client.v2.model.llm_obs_annotation_queue_interactions_data_attributes_request import (  # noqa: E501
    LLMObsAnnotationQueueInteractionsDataAttributesRequest,
)
from datadog_api_client.v2.model.llm_obs_annotation_queue_interactions_data_request import (
    LLMObsAnnotationQueueInteractionsDataRequest,
)
from datadog_api_client.v2.model.llm_obs_annotation_queue_interactions_request import (
    LLMObsAnnotationQueueInteractionsRequest,
)
from datadog_api_client.v2.model.llm_obs_annotation_queue_request import (
    LLMObsAnnotationQueueRequest,
)
from datadog_api_client.v2.model.llm_obs_annotation_schema import LLMObsAnnotationSchema
from datadog_api_client.v2.model.llm_obs_annotations_data_attributes_request import (
    LLMObsAnnotationsDataAttributesRequest,
)
from datadog_api_client.v2.model.llm_obs_annotations_data_request import (
    LLMObsAnnotationsDataRequest,
)
from datadog_api_client.v2.model.llm_obs_annotations_request import LLMObsAnnotationsRequest
from datadog_api_client.v2.model.llm_obs_dataset_batch_update_data_attributes_request import (
    LLMObsDatasetBatchUpdateDataAttributesRequest,
)
from datadog_api_client.v2.model.llm_obs_dataset_batch_update_data_request import (
    LLMObsDatasetBatchUpdateDataRequest,
)
from datadog_api_client.v2.model.llm_obs_dataset_batch_update_insert_record import (
    LLMObsDatasetBatchUpdateInsertRecord,
)
from datadog_api_client.v2.model.llm_obs_dataset_batch_update_request import (
    LLMObsDatasetBatchUpdateRequest,
)
from datadog_api_client.v2.model.llm_obs_dataset_data_attributes_request import (
    LLMObsDatasetDataAttributesRequest,
)
from datadog_api_client.v2.model.llm_obs_dataset_data_request import LLMObsDatasetDataRequest
from datadog_api_client.v2.model.llm_obs_dataset_record_item import LLMObsDatasetRecordItem
from datadog_api_client.v2.model.llm_obs_dataset_records_data_attributes_request import (
    LLMObsDatasetRecordsDataAttributesRequest,
)
from datadog_api_client.v2.model.llm_obs_dataset_records_data_request import (
    LLMObsDatasetRecordsDataRequest,
)
from datadog_api_client.v2.model.llm_obs_dataset_records_request import (
    LLMObsDatasetRecordsRequest,
)
from datadog_api_client.v2.model.llm_obs_dataset_request import LLMObsDatasetRequest
from datadog_api_client.v2.model.llm_obs_delete_experiments_data_attributes_request import (
    LLMObsDeleteExperimentsDataAttributesRequest,
)
from datadog_api_client.v2.model.llm_obs_delete_experiments_data_request import (
    LLMObsDeleteExperimentsDataRequest,
)
from datadog_api_client.v2.model.llm_obs_delete_experiments_request import (
    LLMObsDeleteExperimentsRequest,
)
from datadog_api_client.v2.model.llm_obs_experiment_data_attributes_request import (
    LLMObsExperimentDataAttributesRequest,
)
from datadog_api_client.v2.model.llm_obs_experiment_data_request import (
    LLMObsExperimentDataRequest,
)
from datadog_api_client.v2.model.llm_obs_experiment_request import LLMObsExperimentRequest
from datadog_api_client.v2.model.llm_obs_experiment_update_data_attributes_request import (
    LLMObsExperimentUpdateDataAttributesRequest,
)
from datadog_api_client.v2.model.llm_obs_experiment_update_data_request import (
    LLMObsExperimentUpdateDataRequest,
)
from datadog_api_client.v2.model.llm_obs_experiment_update_request import (
    LLMObsExperimentUpdateRequest,
)
from datadog_api_client.v2.model.llm_obs_label_schema import LLMObsLabelSchema
from datadog_api_client.v2.model.llm_obs_project_data_attributes_request import (
    LLMObsProjectDataAttributesRequest,
)
from datadog_api_client.v2.model.llm_obs_project_data_request import LLMObsProjectDataRequest
from datadog_api_client.v2.model.llm_obs_project_request import LLMObsProjectRequest
from datadog_api_client.v2.model.llm_obs_trace_interaction_item import LLMObsTraceInteractionItem
from datadog_api_client.v2.model.llm_obs_upsert_annotation_item import LLMObsUpsertAnnotationItem

from emulator import Emulator

from .conftest import HEADERS, small_emulator


def all_operations() -> list[str]:
    """Every operation id of ``AgentObservabilityApi`` (all unstable in 2.62.0)."""
    source = agent_observability_api.AgentObservabilityApi
    return [name for name in dir(source) if "_llm_obs_" in name and not name.startswith("_")]


def make_client(emu: Emulator) -> ApiClient:
    configuration = Configuration(
        host=emu.base_url,
        api_key={
            "apiKeyAuth": HEADERS["DD-API-KEY"],
            "appKeyAuth": HEADERS["DD-APPLICATION-KEY"],
        },
    )
    for operation in all_operations():
        if operation in configuration.unstable_operations:
            configuration.unstable_operations[operation] = True  # bare op id (2.62.0 quirk)
    return ApiClient(configuration)


@pytest.fixture(autouse=True)
def _quiet_unstable_warnings() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "Using unstable operation ..."
        warnings.simplefilter("ignore", DeprecationWarning)  # events v1 / v2 are deprecated
        yield


@pytest.fixture(scope="module")
def lo(lemu: Emulator) -> Iterator[AgentObservabilityApi]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        with make_client(lemu) as client:
            yield AgentObservabilityApi(client)


@pytest.fixture
def writer() -> Iterator[tuple[Emulator, AgentObservabilityApi]]:
    with small_emulator(seed=9) as emu, make_client(emu) as client:
        yield emu, AgentObservabilityApi(client)


def as_dict(model: Any) -> dict[str, Any]:
    return model.to_dict()


# reads ---------------------------------------------------------------------------------------


def test_projects_and_cursor_pages(lo: AgentObservabilityApi, lemu: Emulator) -> None:
    seen: list[str] = []
    cursor = None
    while True:
        page = (
            lo.list_llm_obs_projects(page_limit=1, page_cursor=cursor)
            if cursor
            else lo.list_llm_obs_projects(page_limit=1)
        )
        seen.extend(p.id for p in page.data)
        cursor = page.meta.after
        if cursor is None:
            break
    assert seen == lemu.llm_obs.project_ids()
    one = lo.list_llm_obs_projects(filter_id=seen[0]).data[0]
    assert one.attributes.name == lemu.llm_obs.get_project(seen[0])["attributes"]["name"]


def test_datasets_records_versions(lo: AgentObservabilityApi, lemu: Emulator) -> None:
    for project_id in lemu.llm_obs.project_ids():
        datasets = lo.list_llm_obs_datasets(project_id, page_limit=100)
        assert [d.id for d in datasets.data] == lemu.llm_obs.dataset_ids(project_id)
        for dataset in datasets.data:
            records = lo.list_llm_obs_dataset_records(project_id, dataset.id, page_limit=1000)
            assert [r.id for r in records.data] == lemu.llm_obs.record_ids(dataset.id)
            assert records.meta.after is None
            versions = lo.list_llm_obs_dataset_versions(project_id, dataset.id)
            numbers = [v.attributes.version_number for v in versions.data]
            assert numbers == list(range(dataset.attributes.current_version, 0, -1))
            old = lo.list_llm_obs_dataset_records(project_id, dataset.id, filter_version=1)
            assert [r.id for r in old.data] == lemu.llm_obs.record_ids(dataset.id, version=1)
            draft = lo.get_llm_obs_dataset_draft_state(project_id, dataset.id)
            assert draft.data.id == dataset.id


def test_draft_state_of_locked_dataset(lo: AgentObservabilityApi, lemu: Emulator) -> None:
    project_id = lemu.llm_obs.project_ids()[-1]
    dataset_id = lemu.llm_obs.dataset_ids(project_id)[-2]
    draft = lo.get_llm_obs_dataset_draft_state(project_id, dataset_id)
    assert draft.data.attributes.user.email == lemu.llm_obs.users[2].email
    assert draft.data.attributes.drafting_since.year == 2025


def test_experiments_with_every_filter(lo: AgentObservabilityApi, lemu: Emulator) -> None:
    project_id = lemu.llm_obs.project_ids()[-1]
    live = lo.list_llm_obs_experiments(
        filter_project_id=project_id, include_user_data=True, include_dataset_names=True
    )
    assert [e.id for e in live.data] == lemu.llm_obs.experiment_ids(project_id)
    assert all(e.attributes.author.email for e in live.data)
    deleted = lo.list_llm_obs_experiments(filter_project_id=project_id, filter_is_deleted=True)
    assert len(deleted.data) == 1 and deleted.data[0].attributes.deleted_at is not None
    target = live.data[1].attributes
    narrowed = lo.list_llm_obs_experiments(
        filter_project_id=project_id,
        filter_dataset_id=target.dataset_id,
        filter_id=live.data[1].id,
        filter_name=target.name,
        filter_experiment=target.experiment,
        filter_metadata=json.dumps({"branch": target.metadata["branch"]}),
        filter_parent_experiment_id=target.parent_experiment_id,
        page_limit=10,
    )
    assert [e.id for e in narrowed.data] == [live.data[1].id]


def test_experiment_events_all_generations(lo: AgentObservabilityApi, lemu: Emulator) -> None:
    for experiment_id in lemu.llm_obs.experiment_ids(include_deleted=True):
        spans: list[Any] = []
        cursor = None
        while True:
            page = (
                lo.list_llm_obs_experiment_events(experiment_id, page_limit=4, page_cursor=cursor)
                if cursor
                else lo.list_llm_obs_experiment_events(experiment_id, page_limit=4)
            )
            spans.extend(page.data.attributes.spans)
            cursor = page.meta.after
            if cursor is None:
                break
        assert [s.span_id for s in spans] == lemu.llm_obs.span_ids(experiment_id)
        v2 = lo.list_llm_obs_experiment_events_v2(experiment_id)
        assert len(v2.data.attributes.spans) == len(spans)
        v1 = lo.list_llm_obs_experiment_events_v1(experiment_id)
        assert [s.id for s in v1.data] == [s.span_id for s in spans]
    metric_types = {str(m.metric_type) for s in spans for m in s.eval_metrics}
    assert metric_types >= {"score", "categorical", "boolean"}


def test_queues_schema_and_interactions(lo: AgentObservabilityApi, lemu: Emulator) -> None:
    queues = lo.list_llm_obs_annotation_queues()
    assert [q.id for q in queues.data] == lemu.llm_obs.queue_ids()
    by_project = lo.list_llm_obs_annotation_queues(project_id=queues.data[0].attributes.project_id)
    assert queues.data[0].id in [q.id for q in by_project.data]
    by_ids = lo.list_llm_obs_annotation_queues(queue_ids=[q.id for q in queues.data])
    assert len(by_ids.data) == 2
    content_ids = []
    for queue in queues.data:
        schema = lo.get_llm_obs_annotation_queue_label_schema(queue.id)
        assert len(schema.data.attributes.annotation_schema.label_schemas) >= 3
        interactions = lo.get_llm_obs_annotated_interactions(queue.id)
        items = interactions.data.attributes.annotated_interactions
        assert [i.id for i in items] == lemu.llm_obs.interaction_ids(queue.id)
        for item in items:
            single = lo.get_llm_obs_annotated_interaction(queue.id, item.id, limit=1000)
            assert single.data.attributes.annotated_interaction.id == item.id
            assert str(single.data.attributes.interaction_type) == str(item.type)
            content_ids.append(item.content_id)
    by_trace = lo.get_llm_obs_annotated_interactions_by_trace_i_ds(content_ids=content_ids[:4])
    assert by_trace.data.attributes.total_count == 4


def test_export_returns_csv_text(lo: AgentObservabilityApi, lemu: Emulator) -> None:
    project_id = lemu.llm_obs.project_ids()[0]
    dataset_id = lemu.llm_obs.dataset_ids(project_id)[0]
    text = lo.export_llm_obs_dataset(project_id, dataset_id)
    assert isinstance(text, str) and text.splitlines()[0].startswith("id,input,")


def test_errors_map_to_client_exceptions(lo: AgentObservabilityApi, lemu: Emulator) -> None:
    with pytest.raises(NotFoundException):
        lo.list_llm_obs_datasets("00000000-0000-0000-0000-000000000000")
    with pytest.raises(ApiException) as bad:
        lo.list_llm_obs_experiments()  # neither project nor dataset
    assert bad.value.status == 400
    strict = small_emulator(api_key="expected-api", app_key="expected-app")
    with strict, make_client(strict) as client, pytest.raises(ForbiddenException):
        AgentObservabilityApi(client).list_llm_obs_projects()


# writes ----------------------------------------------------------------------------------------


def test_client_writes_are_accepted(writer: tuple[Emulator, AgentObservabilityApi]) -> None:
    emu, lo = writer
    project = lo.create_llm_obs_project(
        LLMObsProjectRequest(
            data=LLMObsProjectDataRequest(
                type="projects", attributes=LLMObsProjectDataAttributesRequest(name="from-client")
            )
        )
    ).data
    dataset = lo.create_llm_obs_dataset(
        project.id,
        LLMObsDatasetRequest(
            data=LLMObsDatasetDataRequest(
                type="datasets",
                attributes=LLMObsDatasetDataAttributesRequest(name="ds", metadata={"a": 1}),
            )
        ),
    ).data
    added = lo.create_llm_obs_dataset_records(
        project.id,
        dataset.id,
        LLMObsDatasetRecordsRequest(
            data=LLMObsDatasetRecordsDataRequest(
                type="records",
                attributes=LLMObsDatasetRecordsDataAttributesRequest(
                    records=[
                        LLMObsDatasetRecordItem(input="hi", expected_output="hello"),
                        LLMObsDatasetRecordItem(input={"q": 1}, expected_output=None),
                    ]
                ),
            )
        ),
    )
    assert len(added.data[0].records) == 2
    batch = lo.batch_update_llm_obs_dataset(
        project.id,
        dataset.id,
        LLMObsDatasetBatchUpdateRequest(
            data=LLMObsDatasetBatchUpdateDataRequest(
                id=dataset.id,
                type="datasets",
                attributes=LLMObsDatasetBatchUpdateDataAttributesRequest(
                    insert_records=[LLMObsDatasetBatchUpdateInsertRecord(input="third")],
                    delete_records=[added.data[0].records[0].id],
                ),
            )
        ),
    )
    assert [r.input for r in batch.data[0].records] == ["third"]
    assert emu.llm_obs.get_dataset(dataset.id)["attributes"]["current_version"] == 2

    locked = lo.lock_llm_obs_dataset_draft_state(project.id, dataset.id)
    assert locked.data.attributes.user.id
    lo.unlock_llm_obs_dataset_draft_state(project.id, dataset.id)
    assert emu.llm_obs.draft_state(dataset.id)["attributes"]["user"] is None

    experiment = lo.create_llm_obs_experiment(
        LLMObsExperimentRequest(
            data=LLMObsExperimentDataRequest(
                type="experiments",
                attributes=LLMObsExperimentDataAttributesRequest(
                    name="exp", project_id=project.id, dataset_id=dataset.id, config={"t": 0.1}
                ),
            )
        )
    ).data
    updated = lo.update_llm_obs_experiment(
        experiment.id,
        LLMObsExperimentUpdateRequest(
            data=LLMObsExperimentUpdateDataRequest(
                type="experiments",
                attributes=LLMObsExperimentUpdateDataAttributesRequest(status="completed"),
            )
        ),
    ).data
    assert str(updated.attributes.status) == "completed"
    lo.delete_llm_obs_experiments(
        LLMObsDeleteExperimentsRequest(
            data=LLMObsDeleteExperimentsDataRequest(
                type="experiments",
                attributes=LLMObsDeleteExperimentsDataAttributesRequest(
                    experiment_ids=[experiment.id]
                ),
            )
        )
    )
    assert emu.llm_obs.experiment_ids(project.id) == []

    queue = lo.create_llm_obs_annotation_queue(
        LLMObsAnnotationQueueRequest(
            data=LLMObsAnnotationQueueDataRequest(
                type="queues",
                attributes=LLMObsAnnotationQueueDataAttributesRequest(
                    name="q",
                    project_id=project.id,
                    annotation_schema=LLMObsAnnotationSchema(
                        label_schemas=[
                            LLMObsLabelSchema(name="stars", type="score", min=1.0, max=5.0)
                        ]
                    ),
                ),
            )
        )
    ).data
    label_id = queue.attributes.annotation_schema.label_schemas[0].id
    interactions = lo.create_llm_obs_annotation_queue_interactions(
        queue.id,
        LLMObsAnnotationQueueInteractionsRequest(
            data=LLMObsAnnotationQueueInteractionsDataRequest(
                type="interactions",
                attributes=LLMObsAnnotationQueueInteractionsDataAttributesRequest(
                    interactions=[LLMObsTraceInteractionItem(type="trace", content_id="c" * 32)]
                ),
            )
        ),
    )
    interaction_id = interactions.data.attributes.interactions[0].id
    upserted = lo.upsert_llm_obs_annotations(
        queue.id,
        LLMObsAnnotationsRequest(
            data=LLMObsAnnotationsDataRequest(
                type="annotations",
                attributes=LLMObsAnnotationsDataAttributesRequest(
                    annotations=[
                        LLMObsUpsertAnnotationItem(
                            interaction_id=interaction_id,
                            label_values=[
                                LLMObsAnnotationLabelValue(label_schema_id=label_id, value=4.0)
                            ],
                        )
                    ]
                ),
            )
        ),
    )
    assert upserted.data.attributes.annotations[0].interaction_id == interaction_id
    listed = lo.get_llm_obs_annotated_interactions(queue.id)
    (item,) = listed.data.attributes.annotated_interactions
    assert item.annotations[0].label_values == {"stars": 4.0}
