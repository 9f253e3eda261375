"""Deterministic LLM Observability data: the same seed and sizes always give the same store.

Layout for the default :class:`LLMObsSizes` (2 projects):

* per project, ``datasets`` datasets of ``records`` records at version 1; every dataset but each
  third one then gets a batch update (2 records changed, 1 deleted, 2 inserted) making version 2;
* per project, ``experiments`` experiment runs cycling through the statuses ``completed``,
  ``running``, ``failed``, ``interrupted``; the first run of a project is the baseline every later
  run names as ``parent_experiment_id``; runs share logical names (``experiment``) in pairs;
  terminal runs have ``spans`` spans, running and interrupted ones half as many, failed ones a
  third; each span carries score, categorical and boolean eval metrics (every fifth also a json
  one); terminal runs have summary metrics;
* the first project has one extra, soft-deleted, completed experiment;
* ``queues`` annotation queues (round-robin over projects) with score, categorical, boolean and
  text labels, ``interactions`` interactions each (trace, experiment trace, session and display
  block types) of which two in three are annotated, some by two users;
* the second dataset of the first project is draft-locked by the third generated user.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..timeutil import to_us
from .data import (
    DraftLock,
    Experiment,
    RecordRevision,
    User,
    eval_metric_event,
    summary_metrics,
)

if TYPE_CHECKING:
    from .data import LLMObsStore

GEN_START_US = to_us("2025-02-01T00:00:00Z")
DAY_US = 86_400 * 1_000_000
HOUR_US = 3_600 * 1_000_000

USERS = (
    ("Jane Doe", "jane.doe@example.com"),
    ("Arjun Patel", "arjun.patel@example.com"),
    ("Mei Chen", "mei.chen@example.com"),
    ("Lucas Martin", "lucas.martin@example.com"),
)
PROJECT_NAMES = (
    "support-assistant",
    "rag-search",
    "code-review-bot",
    "sql-copilot",
    "triage-agent",
    "doc-summarizer",
)
PROJECT_DESCRIPTIONS = (
    "Customer support chatbot evaluations",
    None,
    "Pull-request review suggestions",
    "Natural language to SQL",
    "Incident triage agent",
    "Long document summaries",
)
DATASET_NAMES = (
    "golden-questions",
    "edge-cases",
    "regressions",
    "multilingual",
    "adversarial",
    "long-context",
)
TOPICS = ("billing", "shipping", "returns", "accounts", "privacy", "pricing", "outages")
QUESTIONS = (
    "How do I update the card on my {topic} account?",
    "Why was I charged twice for {topic}?",
    "Can you explain the {topic} policy in simple terms?",
    "What changed in {topic} last month?",
    "Who do I contact about {topic} problems?",
    "Is there a limit on {topic} requests?",
    "¿Cómo cambio mis datos de {topic}?",
    "Quelle est la règle pour {topic} ?",
)
ANSWERS = (
    "Go to Settings > {topic} and follow the prompts.",
    "A duplicate {topic} charge is refunded within 5 business days.",
    "The {topic} policy allows changes within 30 days.",
    "Contact the {topic} team through the help center.",
)
LOGICAL_NAMES = ("baseline", "prompt-v2", "rerank", "few-shot", "long-context", "tool-use")
MODELS = ("gpt-4o-mini", "claude-3-5-sonnet", "llama-3.1-70b", "mistral-large")
STATUS_CYCLE = ("completed", "running", "failed", "interrupted")
QUALITY_VALUES = ("good", "acceptable", "bad")
QUEUE_NAMES = ("Support triage review", "Hallucination audit", "Tone review", "Safety review")


@dataclass(frozen=True)
class LLMObsSizes:
    """Generated sizes (small defaults for tests and ``labsync demo``).

    Attributes:
        projects: Projects.
        datasets: Datasets per project.
        records: Records per dataset at version 1.
        experiments: Live experiment runs per project (plus one soft-deleted in the first).
        spans: Spans per terminal experiment (running ones have half).
        queues: Annotation queues (round-robin over projects).
        interactions: Interactions per queue.
    """

    projects: int = 2
    datasets: int = 3
    records: int = 24
    experiments: int = 4
    spans: int = 20
    queues: int = 2
    interactions: int = 6

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"LLM Obs size {name} must be a non-negative integer")


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _hex(rng: random.Random, digits: int) -> str:
    return f"{rng.getrandbits(digits * 4):0{digits}x}"


def _record_content(rng: random.Random, index: int) -> dict[str, Any]:
    topic = TOPICS[rng.randrange(len(TOPICS))]
    question = QUESTIONS[rng.randrange(len(QUESTIONS))].format(topic=topic)
    shape = index % 4
    record_input: Any = question if shape == 3 else {"question": question, "topic": topic}
    answer = ANSWERS[rng.randrange(len(ANSWERS))].format(topic=topic)
    expected: Any
    if index % 7 == 6:
        expected = None
    elif shape == 1:
        expected = {"answer": answer, "citations": [f"kb-{rng.randrange(1000):03d}"]}
    else:
        expected = answer
    metadata = (
        None
        if index % 9 == 8
        else {"difficulty": ("easy", "medium", "hard")[index % 3], "source": "production-sample"}
    )
    return {"input": record_input, "expected_output": expected, "metadata": metadata}


def make_span(
    key: str, experiment: Experiment, record: RecordRevision | None, start_us: int
) -> dict[str, Any]:
    """One experiment span with its eval metrics, derived deterministically from ``key``."""
    rng = random.Random(key)
    span_id = str(rng.getrandbits(63))
    trace_id = _hex(rng, 32)
    failed_run = experiment.status == "failed"
    is_error = rng.random() < (0.4 if failed_run else 0.08)
    input_tokens = rng.randrange(80, 1200)
    output_tokens = rng.randrange(20, 400)
    expected = record.expected_output if record is not None else None
    meta: dict[str, Any] = {
        "input": record.input if record is not None else {"question": "synthetic input"},
        "output": None if is_error else f"Answer #{rng.randrange(10_000)} for the user.",
        "expected_output": expected if isinstance(expected, dict) else {"value": expected},
    }
    if is_error:
        meta["error"] = {
            "message": "upstream model timed out",
            "stack": 'Traceback (most recent call last):\n  File "task.py", line 42\nTimeoutError',
            "type": "TimeoutError",
        }
    span: dict[str, Any] = {
        "id": span_id,
        "span_id": span_id,
        "trace_id": trace_id,
        "parent_id": "undefined",
        "name": "experiment_task",
        "status": "error" if is_error else "ok",
        "start_ns": start_us * 1000 + rng.randrange(1000),
        "duration": float(rng.randrange(200_000_000, 9_000_000_000)),
        "dataset_record_id": record.record_id if record is not None else None,
        "tags": [
            f"experiment_id:{experiment.id}",
            f"dataset_id:{experiment.dataset_id}",
            f"model:{(experiment.config or {}).get('model', 'unknown')}",
        ],
        "metrics": {
            "input_tokens": float(input_tokens),
            "output_tokens": float(output_tokens),
            "total_tokens": float(input_tokens + output_tokens),
            "estimated_total_cost": round((input_tokens * 0.15 + output_tokens * 0.6) / 1e6, 8),
        },
        "meta": meta,
        "eval_metrics": [],
    }
    stamp_ms = start_us // 1000 + 5_000
    score = 0.0 if is_error else round(rng.random(), 4)
    metric_ids = [_uuid(rng) for _ in range(4)]
    span["eval_metrics"] = [
        eval_metric_event(
            span,
            label="correctness",
            metric_id=metric_ids[0],
            metric_type="score",
            value=score,
            timestamp_ms=stamp_ms,
            assessment="pass" if score >= 0.7 else "fail",
            reasoning=None if rng.random() < 0.5 else "Compared with the expected answer.",
        ),
        eval_metric_event(
            span,
            label="answer_quality",
            metric_id=metric_ids[1],
            metric_type="categorical",
            value=QUALITY_VALUES[0 if score > 0.8 else 1 if score > 0.4 else 2],
            timestamp_ms=stamp_ms + 1,
        ),
        eval_metric_event(
            span,
            label="exact_match",
            metric_id=metric_ids[2],
            metric_type="boolean",
            value=score > 0.9,
            timestamp_ms=stamp_ms + 2,
            tags=["evaluator:string_match"],
        ),
    ]
    if int(span_id) % 5 == 0:
        span["eval_metrics"].append(
            eval_metric_event(
                span,
                label="rubric",
                metric_id=metric_ids[3],
                metric_type="json",
                value={"clarity": rng.randrange(1, 6), "completeness": rng.randrange(1, 6)},
                timestamp_ms=stamp_ms + 3,
                metadata={"judge": "gpt-4o"},
            )
        )
    return span


def _label_schemas(rng: random.Random, index: int) -> list[dict[str, Any]]:
    if index % 2 == 0:
        return [
            {
                "id": _uuid(rng),
                "name": "quality",
                "type": "score",
                "description": "Rating of the response quality.",
                "is_required": True,
                "is_integer": True,
                "min": 1.0,
                "max": 5.0,
                "has_assessment": False,
                "has_reasoning": False,
            },
            {
                "id": _uuid(rng),
                "name": "category",
                "type": "categorical",
                "description": "What the conversation is about.",
                "values": ["billing", "technical", "account", "other"],
                "is_required": False,
            },
            {
                "id": _uuid(rng),
                "name": "needs_followup",
                "type": "boolean",
                "is_required": False,
            },
            {"id": _uuid(rng), "name": "notes", "type": "text", "is_required": False},
        ]
    return [
        {
            "id": _uuid(rng),
            "name": "hallucination",
            "type": "boolean",
            "description": "The answer states facts not in the context.",
            "has_assessment": True,
            "is_assessment": True,
            "is_required": True,
        },
        {
            "id": _uuid(rng),
            "name": "severity",
            "type": "categorical",
            "values": ["low", "medium", "high"],
            "is_required": False,
        },
        {
            "id": _uuid(rng),
            "name": "faithfulness",
            "type": "score",
            "min": 0.0,
            "max": 1.0,
            "is_integer": False,
            "has_reasoning": True,
            "is_required": False,
        },
    ]


def _label_entries(rng: random.Random, schemas: list[dict[str, Any]]) -> list[dict[str, Any]]:
    entries = []
    for schema in schemas:
        if not schema.get("is_required") and rng.random() < 0.4:
            continue
        kind = schema["type"]
        value: Any
        if kind == "score":
            low, high = schema.get("min", 0.0), schema.get("max", 1.0)
            value = (
                rng.randint(int(low), int(high))
                if schema.get("is_integer")
                else round(rng.uniform(low, high), 3)
            )
        elif kind == "categorical":
            value = schema["values"][rng.randrange(len(schema["values"]))]
        elif kind == "boolean":
            value = rng.random() < 0.3
        else:
            value = ("Looks fine.", "Too verbose.", "Missed the refund question.")[rng.randrange(3)]
        entry: dict[str, Any] = {"label_schema_id": schema["id"], "value": value}
        if schema.get("has_assessment"):
            entry["assessment"] = "fail" if value is True else "pass"
        if schema.get("has_reasoning"):
            entry["reasoning"] = "Checked against the retrieved context."
        entries.append(entry)
    return entries


def _display_blocks(rng: random.Random, index: int) -> list[dict[str, Any]]:
    return [
        {"type": "header", "content": f"Conversation sample {index}", "level": "md"},
        {"type": "markdown", "content": f"**User:** {QUESTIONS[index % len(QUESTIONS)]}"},
        {"type": "json", "content": {"turns": rng.randrange(2, 9), "channel": "chat"}},
    ]


def populate(store: LLMObsStore, seed: int, sizes: LLMObsSizes) -> None:
    """Fill an empty store with the generated data set (writes its private state directly)."""
    rng = random.Random(f"llm-obs:{seed}")
    store.users = [
        User(id=_uuid(rng), name=name, email=email, handle=email) for name, email in USERS
    ]
    uuid_rng = random.Random(f"llm-obs-ids:{seed}")
    clock = GEN_START_US
    experiment_spans: dict[str, list[str]] = {}

    for p_index in range(sizes.projects):
        base = PROJECT_NAMES[p_index % len(PROJECT_NAMES)]
        name = (
            base if p_index < len(PROJECT_NAMES) else f"{base}-{p_index // len(PROJECT_NAMES) + 1}"
        )
        clock += DAY_US + rng.randrange(HOUR_US)
        project_id, _ = store.create_project(
            name, PROJECT_DESCRIPTIONS[p_index % len(PROJECT_DESCRIPTIONS)], at=clock
        )
        project = store._projects.pop(project_id)
        project.id = _uuid(uuid_rng)
        store._projects[project.id] = project

        dataset_ids: list[str] = []
        for d_index in range(sizes.datasets):
            clock += HOUR_US + rng.randrange(HOUR_US)
            d_base = DATASET_NAMES[d_index % len(DATASET_NAMES)]
            d_name = d_base if d_index < len(DATASET_NAMES) else f"{d_base}-{d_index}"
            metadata = None if d_index % 3 == 2 else {"owner_team": "ml-platform", "language": "en"}
            generated_id = store.create_dataset(
                project.id, d_name, f"{d_name} for {project.name}", metadata, at=clock
            )
            dataset = store._datasets.pop(generated_id)
            dataset.id = _uuid(uuid_rng)
            store._datasets[dataset.id] = dataset
            dataset_ids.append(dataset.id)
            clock += 10 * 60 * 1_000_000
            initial = [
                {**_record_content(rng, i), "id": _uuid(uuid_rng)} for i in range(sizes.records)
            ]
            store.batch_update(dataset.id, insert=initial, at=clock)
            clock += len(initial)

        experiment_ids: list[str] = []
        for e_index in range(sizes.experiments + (1 if p_index == 0 else 0)):
            if not dataset_ids:
                break
            clock += 3 * HOUR_US + rng.randrange(HOUR_US)
            dataset = store._datasets[dataset_ids[e_index % len(dataset_ids)]]
            logical = LOGICAL_NAMES[(e_index // 2) % len(LOGICAL_NAMES)]
            model = MODELS[e_index % len(MODELS)]
            generated_id = store.create_experiment(
                project.id,
                dataset.id,
                logical,
                description=None if e_index % 3 == 1 else f"{logical} run with {model}",
                parent_experiment_id=experiment_ids[0] if experiment_ids else None,
                config={"model": model, "temperature": round(rng.uniform(0, 1), 2)},
                metadata={
                    "commit": _hex(rng, 7),
                    "branch": "main" if e_index % 2 == 0 else "feature/rerank",
                    "tags": ["nightly"] if e_index % 3 == 0 else [],
                },
                author=e_index % len(store.users),
                at=clock,
            )
            experiment = store._experiments.pop(generated_id)
            experiment.id = _uuid(uuid_rng)
            experiment.name = f"{logical}-{model}-{e_index}"
            store._experiments[experiment.id] = experiment
            experiment_ids.append(experiment.id)
            deleted = p_index == 0 and e_index == sizes.experiments
            status = "completed" if deleted else STATUS_CYCLE[e_index % len(STATUS_CYCLE)]
            experiment.status = status
            n_spans = {
                "completed": sizes.spans,
                "running": sizes.spans // 2,
                "interrupted": sizes.spans // 2,
                "failed": sizes.spans // 3,
            }[status]
            records = sorted(
                dataset.records_at(experiment.dataset_version),
                key=lambda r: (r.created_at, r.record_id),
            )
            for s_index in range(n_spans):
                record = records[s_index % len(records)] if records else None
                span = make_span(
                    f"{seed}:{experiment.id}:{s_index}", experiment, record, clock + s_index * 1000
                )
                experiment.spans.append(span)
            experiment_spans[experiment.id] = [s["trace_id"] for s in experiment.spans]
            finished = clock + n_spans * 1000 + 30 * 60 * 1_000_000
            if status == "failed":
                experiment.error = "RateLimitError: provider returned 429 after 5 retries"
            if status in ("completed", "failed", "interrupted"):
                experiment.summary_metrics = summary_metrics(experiment.spans, finished // 1000)
                experiment.updated_at = finished
            if deleted:
                experiment.deleted_at = finished + HOUR_US
                experiment.updated_at = experiment.deleted_at
            clock = max(clock, experiment.updated_at)

        # version 2 of most datasets, after the first experiments used version 1
        for d_index, dataset_id in enumerate(dataset_ids):
            if d_index % 3 == 2:
                continue
            dataset = store._datasets[dataset_id]
            live = sorted(
                dataset.records_at(dataset.current_version),
                key=lambda r: (r.created_at, r.record_id),
            )
            if len(live) < 3:
                continue
            clock += DAY_US
            updates = [
                {"id": live[0].record_id, "expected_output": "Updated reference answer."},
                {"id": live[1].record_id, "metadata": {"difficulty": "hard", "reviewed": True}},
            ]
            inserts = [
                {**_record_content(rng, sizes.records + i), "id": _uuid(uuid_rng)} for i in range(2)
            ]
            store.batch_update(
                dataset_id, insert=inserts, update=updates, delete=[live[2].record_id], at=clock
            )
            clock += 10

    projects = list(store._projects.values())
    for q_index in range(sizes.queues if projects else 0):
        project = projects[q_index % len(projects)]
        clock += DAY_US
        owner = store.users[q_index % len(store.users)]
        reviewers = [u.email for u in store.users[1:3]] if q_index % 2 == 1 else []
        generated_id = store.create_queue(
            project.id,
            QUEUE_NAMES[q_index % len(QUEUE_NAMES)]
            + ("" if q_index < len(QUEUE_NAMES) else f" {q_index}"),
            description=f"Human review for {project.name}",
            label_schemas=_label_schemas(rng, q_index),
            restrict_to_reviewers=bool(reviewers),
            reviewer_emails=reviewers,
            owner=owner,
            at=clock,
        )
        queue = store._queues.pop(generated_id)
        queue.id = _uuid(uuid_rng)
        store._queues[queue.id] = queue
        traces = [
            t
            for e in store._experiments.values()
            if e.project_id == project.id
            for t in experiment_spans.get(e.id, [])
        ]
        kinds = ("trace", "trace", "experiment_trace", "session", "display_block", "trace")
        for i_index in range(sizes.interactions):
            clock += HOUR_US
            kind = kinds[i_index % len(kinds)]
            item: dict[str, Any] = {"type": kind}
            if kind == "display_block":
                item["display_block"] = _display_blocks(rng, i_index)
            elif kind == "experiment_trace" and traces:
                item["content_id"] = traces[rng.randrange(len(traces))]
            elif kind == "session":
                item["content_id"] = f"session-{_hex(rng, 12)}"
            else:
                item["content_id"] = _hex(rng, 32)
            ((interaction, _),) = store.add_interactions(queue.id, [item], at=clock)
            queue.interactions.pop(interaction.id)
            interaction.id = _uuid(uuid_rng)
            queue.interactions[interaction.id] = interaction
            if i_index % 3 == 2:
                continue
            annotators = [store.users[(q_index + i_index) % len(store.users)]]
            if i_index % 4 == 0:
                annotators.append(store.users[(q_index + i_index + 1) % len(store.users)])
            for a_index, user in enumerate(annotators):
                stamp = clock + (a_index + 1) * 20 * 60 * 1_000_000
                annotation = store.upsert_annotation(
                    queue.id,
                    interaction.id,
                    _label_entries(rng, queue.label_schemas),
                    user=user,
                    at=stamp,
                )
                interaction.annotations.pop(annotation.id)
                annotation.id = _uuid(uuid_rng)
                interaction.annotations[annotation.id] = annotation
        clock += DAY_US

    # one dataset is being edited by a user (a draft lock)
    first_project = projects[0] if projects else None
    if first_project is not None:
        locked = [d for d in store._datasets.values() if d.project_id == first_project.id]
        locked.sort(key=lambda d: d.created_at)
        if len(locked) >= 2:
            clock += HOUR_US
            locked[1].draft = DraftLock(store.users[2], clock)
