"""Deterministic generation of the PostHog LLM analytics data set.

Everything depends only on the seed, the sizes and the anchor time ``now_us`` (the emulated
"now"; the store passes the current hour unless told otherwise):

* 3 users (one of them owns the API key and is ``created_by`` of rows created through the API);
* datasets created 5-30 days before the anchor, each with ``items_per_dataset`` items (a random
  count in the range) created after their dataset; ~30 % of rows were edited later;
  ``updated_at`` of an unedited row is a few microseconds after ``created_at`` (Django's
  ``auto_now_add`` and ``auto_now`` each read the clock);
* evaluations created 20-40 days before the anchor, cycling through four templates: an enabled
  ``hog`` check, an enabled ``llm_judge`` that ``allows_na``, an enabled ``llm_judge``, and a
  ``hog`` check disabled a few days before the anchor (its events stop there);
* ``$ai_generation`` events and ``$ai_evaluation`` events over the last ``event_days`` days:
  each evaluation event targets a generation (one evaluation per generation at most once),
  ``timestamp`` is the emission time (seconds after the generation), ``created_at`` the ingestion
  time (usually < 3 s later, a few minutes for ~8 %, up to 3 h for ~2 %, never after the
  anchor). Events from the first two days come from an older writer that did not send
  ``$ai_evaluation_runtime``, ``$ai_evaluation_allows_na`` or ``$ai_evaluation_applicable``.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from typing import Any

from .wire import DAY_US, HOUR_US, US_PER_MS, US_PER_S, drf_iso, uuid7, uuidt

EVALUATION_EVENT = "$ai_evaluation"
GENERATION_EVENT = "$ai_generation"

JUDGE_MODELS: tuple[tuple[str, str], ...] = (
    ("openai", "gpt-4.1-mini"),
    ("anthropic", "claude-3-5-haiku-20241022"),
    ("openai", "gpt-4o-mini"),
)
GENERATION_MODELS: tuple[tuple[str, str], ...] = (
    ("openai", "gpt-4o-mini"),
    ("openai", "gpt-4.1"),
    ("anthropic", "claude-sonnet-4-20250514"),
    ("gemini", "gemini-2.0-flash"),
)
PROVIDER_KEYS: tuple[tuple[str, str], ...] = (
    ("0193a0c4-6a1e-7c2d-9f40-5b8e1d2c3a41", "Team OpenAI key"),
    ("0193a0c4-6a1e-7c2d-9f40-5b8e1d2c3a42", "Anthropic (prod)"),
)

_USERS: tuple[tuple[str, str, str], ...] = (
    ("Ada", "Lovelace", "ada@example.com"),
    ("Grace", "Hopper", "grace@example.com"),
    ("Zoë", "Müller", "zoe.mueller@example.com"),
)
_DATASETS: tuple[tuple[str, str | None, dict[str, Any] | None], ...] = (
    ("support-golden-set", "Golden answers for the support bot", {"owner": "support", "v": 3}),
    ("rag-regressions", None, {"source": "traces", "tags": ["rag", "regression"]}),
    ("Évaluation multilingue", "Prompts en français, deutsch und español", None),
    ("toxicity-probe", "Adversarial prompts; expected refusals", {"severity": "high"}),
    ("sql-generation", "Natural language to SQL pairs", {"dialect": "postgres"}),
)
_QUESTIONS: tuple[str, ...] = (
    "How do I reset my password?",
    "Summarise this ticket in one sentence.",
    "Which plan includes SSO?",
    "Translate 'good morning' to Japanese: おはようございます?",
    "Write a SQL query counting orders per day.",
    "Why was my card declined?",
    "Explain the refund policy.",
    "¿Dónde está mi pedido?",
)
_ANSWERS: tuple[str, ...] = (
    "Go to Settings → Security and choose 'Reset password'.",
    "The customer cannot log in after the last update.",
    "SSO is part of the Enterprise plan.",
    "おはようございます (ohayō gozaimasu).",
    "SELECT date_trunc('day', created_at), count(*) FROM orders GROUP BY 1;",
    "Your bank declined the charge; please contact them.",
    "Refunds are possible within 30 days.",
    "Tu pedido está en camino.",
)
_JUDGE_REASONS: tuple[str, ...] = (
    "The answer addresses the question directly and cites the policy.",
    "The response is relevant but omits the requested detail.",
    "The output contradicts the provided context.",
    "The reply is polite, concise and correct.",
    "The question is not about the product, so the rubric does not apply.",
)

_EVALUATION_TEMPLATES: tuple[dict[str, Any], ...] = (
    {
        "name": "Output is not empty",
        "description": "Hog check: the generation produced non-whitespace output",
        "enabled": True,
        "evaluation_type": "hog",
        "source": (
            "let out := properties.$ai_output_choices\nreturn length(trim(toString(out))) > 0"
        ),
        "allows_na": False,
    },
    {
        "name": "Answer relevance",
        "description": "LLM judge: does the answer address the user's question?",
        "enabled": True,
        "evaluation_type": "llm_judge",
        "prompt": "Return true if the assistant answer is relevant to the question. "
        "Return N/A when the question is off-topic.",
        "allows_na": True,
    },
    {
        "name": "No hallucinated URLs",
        "description": "",
        "enabled": True,
        "evaluation_type": "llm_judge",
        "prompt": "Return false if the answer contains a URL that is not in the context.",
        "allows_na": False,
    },
    {
        "name": "Latency under 5 s",
        "description": "Disabled after the SLO changed",
        "enabled": False,
        "evaluation_type": "hog",
        "source": "return properties.$ai_latency < 5",
        "allows_na": False,
    },
)


def fake_bytecode(text: str) -> list[Any]:
    """A deterministic stand-in for compiled Hog bytecode (PostHog compiles on save)."""
    digest = hashlib.sha256(text.encode()).hexdigest()
    return ["_H", 1, 32, digest[:16], 32, "__emulated__", 2, "print", 1, 38]


def condition_with_bytecode(condition: dict[str, Any]) -> dict[str, Any]:
    """A condition as the server stores it: ``bytecode`` and ``bytecode_error`` added."""
    out = dict(condition)
    out.setdefault("rollout_percentage", 100)
    out.setdefault("properties", [])
    out["bytecode"] = fake_bytecode(repr(out.get("properties")))
    out["bytecode_error"] = None
    return out


@dataclass
class User:
    """A PostHog user as ``UserBasicSerializer`` renders it."""

    index: int
    payload: dict[str, Any]


@dataclass
class Event:
    """One row of the emulated ``events`` table."""

    uuid: str
    event: str
    timestamp_us: int
    created_at_us: int
    distinct_id: str
    properties: dict[str, Any]


@dataclass
class Generated:
    """The generated data set (rows are plain dicts; timestamps are epoch microseconds)."""

    users: list[User]
    datasets: list[dict[str, Any]]
    items: list[dict[str, Any]]
    evaluations: list[dict[str, Any]]
    events: list[Event] = field(default_factory=list)


def make_users(rng: random.Random) -> list[User]:
    """The three users of the emulated organization."""
    users: list[User] = []
    for index, (first, last, email) in enumerate(_USERS):
        users.append(
            User(
                index=index,
                payload={
                    "id": index + 1,
                    "uuid": uuid7(1_700_000_000_000 + index, rng),
                    "distinct_id": f"{first.lower()}-{rng.getrandbits(40):010x}",
                    "first_name": first,
                    "last_name": last,
                    "email": email,
                    "is_email_verified": index != 2,
                    "hedgehog_config": None,
                    "role_at_organization": ("engineering", "data", None)[index],
                },
            )
        )
    return users


def _auto_now_gap(rng: random.Random) -> int:
    """Microseconds between Django's ``auto_now_add`` and ``auto_now`` reads on create."""
    return rng.randint(2, 40)


def _generate_datasets(
    rng: random.Random, n: int, team: int, now_us: int
) -> tuple[list[dict[str, Any]], list[int]]:
    rows: list[dict[str, Any]] = []
    for i in range(n):
        name, description, metadata = _DATASETS[i % len(_DATASETS)]
        if i >= len(_DATASETS):
            name = f"{name}-{i // len(_DATASETS) + 1}"
        created = now_us - rng.randint(5 * DAY_US, 30 * DAY_US)
        updated = created + _auto_now_gap(rng)
        if rng.random() < 0.3:
            updated = rng.randint(created + HOUR_US, now_us - HOUR_US)
        rows.append(
            {
                "id": uuid7(created // US_PER_MS, rng),
                "name": name,
                "description": description,
                "metadata": None if metadata is None else dict(metadata),
                "created_at": created,
                "updated_at": updated,
                "deleted": False,
                "created_by": rng.choice((0, 1, 2, None)),
                "team": team,
            }
        )
    return rows, [row["created_at"] for row in rows]


def _item_payloads(rng: random.Random, k: int) -> tuple[Any, Any, Any]:
    question = _QUESTIONS[k % len(_QUESTIONS)]
    answer = _ANSWERS[k % len(_ANSWERS)]
    shape = rng.random()
    if shape < 0.5:
        item_input: Any = {"messages": [{"role": "user", "content": question}]}
        output: Any = {"role": "assistant", "content": answer}
    elif shape < 0.85:
        item_input, output = question, answer
    else:
        item_input, output = {"question": question, "context": ["faq.md", "policy.md"]}, None
    metadata = None if rng.random() < 0.4 else {"difficulty": rng.choice(("easy", "hard"))}
    return item_input, output, metadata


def _generate_items(
    rng: random.Random,
    datasets: list[dict[str, Any]],
    items_per_dataset: tuple[int, int],
    team: int,
    now_us: int,
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    low, high = items_per_dataset
    k = 0
    for dataset in datasets:
        for _ in range(rng.randint(low, high)):
            created = rng.randint(dataset["created_at"] + US_PER_S, now_us - 10 * US_PER_S)
            updated = created + _auto_now_gap(rng)
            if rng.random() < 0.3:
                updated = rng.randint(created + US_PER_S, now_us - US_PER_S)
            item_input, output, metadata = _item_payloads(rng, k)
            from_trace = rng.random() < 0.6
            rows.append(
                {
                    "id": uuid7(created // US_PER_MS, rng),
                    "dataset": dataset["id"],
                    "input": item_input,
                    "output": output,
                    "metadata": metadata,
                    "ref_trace_id": uuid7(created // US_PER_MS - 60_000, rng)
                    if from_trace
                    else None,
                    "ref_timestamp": created - rng.randint(60, 7 * 86_400) * US_PER_S
                    if from_trace
                    else None,
                    "ref_source_id": uuid7(created // US_PER_MS - 59_000, rng)
                    if from_trace
                    else None,
                    "created_at": created,
                    "updated_at": updated,
                    "deleted": False,
                    "created_by": rng.choice((0, 1, None)),
                    "team": team,
                }
            )
            k += 1
    return rows


def evaluation_row(
    template: dict[str, Any], index: int, created: int, updated: int, rng: random.Random
) -> dict[str, Any]:
    """An evaluation row from one of the templates."""
    hog = template["evaluation_type"] == "hog"
    if hog:
        config: dict[str, Any] = {
            "source": template["source"],
            "bytecode": fake_bytecode(template["source"]),
        }
        model_configuration = None
    else:
        config = {"prompt": template["prompt"]}
        provider, model = JUDGE_MODELS[index % len(JUDGE_MODELS)]
        key_id, key_name = (None, None)
        if index % 2 == 1:
            key_id, key_name = PROVIDER_KEYS[0] if provider == "openai" else PROVIDER_KEYS[1]
        model_configuration = {
            "provider": provider,
            "model": model,
            "provider_key_id": key_id,
            "provider_key_name": key_name,
        }
    properties: list[dict[str, Any]] = []
    if index % 3 == 1:
        properties = [
            {"key": "$ai_model", "value": ["gpt-4o-mini"], "operator": "exact", "type": "event"}
        ]
    conditions = [
        condition_with_bytecode(
            {
                "id": f"cond-{index + 1}",
                "rollout_percentage": 100 if index % 2 == 0 else 50,
                "properties": properties,
            }
        )
    ]
    name = (
        template["name"] if index < len(_EVALUATION_TEMPLATES) else f"{template['name']} #{index}"
    )
    return {
        "id": uuidt(created // US_PER_MS, index, rng),
        "name": name,
        "description": template["description"],
        "enabled": template["enabled"],
        "evaluation_type": template["evaluation_type"],
        "evaluation_config": config,
        "output_type": "boolean",
        "output_config": {"allows_na": template["allows_na"]},
        "conditions": conditions,
        "model_configuration": model_configuration,
        "created_at": created,
        "updated_at": updated,
        "created_by": index % 3 if index % 4 != 3 else None,
        "deleted": False,
    }


def _generate_evaluations(rng: random.Random, n: int, now_us: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for i in range(n):
        template = _EVALUATION_TEMPLATES[i % len(_EVALUATION_TEMPLATES)]
        created = now_us - rng.randint(20 * DAY_US, 40 * DAY_US)
        if template["enabled"]:
            updated = rng.randint(created + HOUR_US, created + 5 * DAY_US)
        else:
            # disabled a few days ago: its events stop at that moment
            updated = now_us - rng.randint(2 * DAY_US, 5 * DAY_US)
        rows.append(evaluation_row(template, i, created, updated, rng))
    return rows


def generation_properties(rng: random.Random, k: int) -> dict[str, Any]:
    """Properties of a generated ``$ai_generation`` event."""
    provider, model = GENERATION_MODELS[rng.randrange(len(GENERATION_MODELS))]
    question = _QUESTIONS[k % len(_QUESTIONS)]
    answer = _ANSWERS[(k + rng.randrange(3)) % len(_ANSWERS)]
    return {
        "$ai_trace_id": uuid7(1_750_000_000_000 + k, rng),
        "$ai_model": model,
        "$ai_provider": provider,
        "$ai_input": [{"role": "user", "content": question}],
        "$ai_output_choices": [{"role": "assistant", "content": answer}],
        "$ai_input_tokens": rng.randint(12, 900),
        "$ai_output_tokens": rng.randint(4, 600),
        "$ai_latency": round(rng.uniform(0.3, 9.0), 3),
        "$ai_total_cost_usd": round(rng.uniform(0.00001, 0.02), 6),
    }


def evaluation_properties(
    evaluation: dict[str, Any],
    generation: Event,
    started_us: int,
    rng: random.Random,
    *,
    old_writer: bool = False,
    result: bool | None = None,
    applicable: bool | None = None,
) -> dict[str, Any]:
    """The properties of an ``$ai_evaluation`` event (docs-era writer, see posthog.md §2.5).

    ``result`` / ``applicable`` None draw them at random; an N/A outcome (``applicable`` False)
    is only possible when the evaluation ``allows_na``. ``old_writer`` drops the properties
    older writers did not send.
    """
    allows_na = bool((evaluation.get("output_config") or {}).get("allows_na")) and not old_writer
    runtime = evaluation.get("evaluation_type")
    if applicable is None:
        applicable = not (allows_na and rng.random() < 0.15)
    if not allows_na:
        applicable = True
    if result is None:
        result = rng.random() < (0.8 if runtime == "hog" else 0.7)
    props: dict[str, Any] = {
        "$ai_evaluation_id": evaluation["id"],
        "$ai_evaluation_name": evaluation["name"],
        "$ai_evaluation_type": "online",
    }
    if not old_writer:
        props["$ai_evaluation_runtime"] = runtime
    props["$ai_evaluation_start_time"] = drf_iso(started_us)
    if applicable:
        props["$ai_evaluation_result"] = result
    if allows_na:
        props["$ai_evaluation_applicable"] = applicable
    if not old_writer:
        props["$ai_evaluation_allows_na"] = allows_na
    if runtime == "llm_judge":
        reason = _JUDGE_REASONS[4] if not applicable else rng.choice(_JUDGE_REASONS[:4])
    else:
        length = len(str(generation.properties.get("$ai_output_choices", "")))
        reason = f"output length {length}; result {str(result).lower()}"
    props["$ai_evaluation_reasoning"] = reason
    props["$ai_target_event_id"] = generation.uuid
    props["$ai_target_event_type"] = generation.event
    props["$ai_trace_id"] = generation.properties.get("$ai_trace_id")
    if runtime == "llm_judge":
        model_config = evaluation.get("model_configuration") or {}
        model = model_config.get("model", JUDGE_MODELS[0][1])
        provider = model_config.get("provider", JUDGE_MODELS[0][0])
        key_id = model_config.get("provider_key_id")
        props.update(
            {
                "$ai_model": model,
                "$ai_provider": provider,
                "$ai_input_tokens": rng.randint(200, 1800),
                "$ai_output_tokens": rng.randint(10, 160),
                "$ai_evaluation_model": model,
                "$ai_evaluation_provider": provider,
                "$ai_evaluation_key_type": "byok" if key_id else "posthog",
                "$ai_evaluation_key_id": key_id,
            }
        )
    return props


def ingestion_lag_us(rng: random.Random) -> int:
    """Delay between emission (``timestamp``) and ingestion (``created_at``)."""
    draw = rng.random()
    if draw < 0.90:
        return rng.randint(200_000, 3 * US_PER_S)
    if draw < 0.98:
        return rng.randint(3 * US_PER_S, 120 * US_PER_S)
    return rng.randint(600 * US_PER_S, 3 * 3_600 * US_PER_S)


def _generate_events(
    rng: random.Random,
    evaluations: list[dict[str, Any]],
    n_events: int,
    days: int,
    now_us: int,
) -> list[Event]:
    start = now_us - days * DAY_US
    old_writer_until = start + 2 * DAY_US
    n_generations = n_events if evaluations else 0
    generations: list[Event] = []
    for k in range(n_generations):
        ts = rng.randint(start, now_us - 5 * 60 * US_PER_S)
        props = generation_properties(rng, k)
        created = min(ts + ingestion_lag_us(rng), now_us)
        generations.append(
            Event(
                uuid=uuid7(ts // US_PER_MS, rng),
                event=GENERATION_EVENT,
                timestamp_us=ts,
                created_at_us=created,
                distinct_id=f"user-{rng.randint(1, 400)}",
                properties=props,
            )
        )
    events: list[Event] = list(generations)
    if not evaluations or n_events <= 0:
        return events
    done: set[tuple[int, int]] = set()
    attempts = 0
    made = 0
    while made < n_events and attempts < n_events * 50:
        attempts += 1
        g = rng.randrange(len(generations))
        e = rng.randrange(len(evaluations))
        evaluation = evaluations[e]
        generation = generations[g]
        active_until = now_us if evaluation["enabled"] else evaluation["updated_at"]
        if (g, e) in done or generation.timestamp_us >= active_until:
            continue
        done.add((g, e))
        slow = evaluation["evaluation_type"] == "llm_judge"
        started = generation.timestamp_us + rng.randint(US_PER_S, 4 * US_PER_S)
        ts = started + rng.randint(2 * US_PER_S if slow else 50_000, 20 * US_PER_S)
        ts = min(ts, now_us)
        created = min(ts + ingestion_lag_us(rng), now_us)
        props = evaluation_properties(
            evaluation, generation, started, rng, old_writer=ts < old_writer_until
        )
        events.append(
            Event(
                uuid=uuid7(ts // US_PER_MS, rng),
                event=EVALUATION_EVENT,
                timestamp_us=ts,
                created_at_us=created,
                distinct_id=generation.distinct_id,
                properties=props,
            )
        )
        made += 1
    return events


def generate(
    seed: int,
    team: int,
    now_us: int,
    datasets: int = 3,
    items_per_dataset: tuple[int, int] = (10, 40),
    evaluations: int = 4,
    evaluation_events: int = 300,
    event_days: int = 14,
) -> Generated:
    """Generate the data set (see the module docstring)."""
    if min(datasets, evaluations, evaluation_events, event_days) < 0:
        raise ValueError("PostHog sizes must be >= 0")
    low, high = items_per_dataset
    if low < 0 or high < low:
        raise ValueError("items_per_dataset must be (low, high) with 0 <= low <= high")
    rng = random.Random(f"posthog:{seed}")
    users = make_users(rng)
    dataset_rows, _ = _generate_datasets(rng, datasets, team, now_us)
    items = _generate_items(rng, dataset_rows, (low, high), team, now_us)
    evaluation_rows = _generate_evaluations(rng, evaluations, now_us)
    events = _generate_events(rng, evaluation_rows, evaluation_events, event_days, now_us)
    return Generated(users, dataset_rows, items, evaluation_rows, events)
