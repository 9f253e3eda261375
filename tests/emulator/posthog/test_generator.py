"""The deterministic generator: sizes, determinism, relations, event properties."""

from __future__ import annotations

import orjson
import pytest

from emulator.posthog.data import PostHogStore
from emulator.posthog.generator import EVALUATION_EVENT, GENERATION_EVENT, generate
from emulator.posthog.wire import DAY_US, parse_datetime_us

ANCHOR_US = parse_datetime_us("2026-11-02T00:00:00Z")


def _dump(store: PostHogStore) -> bytes:
    rows = {
        kind: [store.rendered(kind, i) for i in store.row_ids(kind, include_deleted=True)]
        for kind in ("dataset", "item", "evaluation")
    }
    return orjson.dumps([rows, store.evaluation_events(), store.generation_events()])


def test_same_seed_same_data_other_seed_other_data() -> None:
    first = PostHogStore(seed=7, now=ANCHOR_US)
    assert _dump(first) == _dump(PostHogStore(seed=7, now=ANCHOR_US))
    assert _dump(first) != _dump(PostHogStore(seed=8, now=ANCHOR_US))


def test_default_sizes_and_ranges() -> None:
    store = PostHogStore(seed=1, now=ANCHOR_US)
    datasets = store.dataset_ids()
    assert len(datasets) == 3 and len(store.evaluation_ids()) == 4
    counts = [len(store.item_ids(d)) for d in datasets]
    assert all(10 <= c <= 40 for c in counts) and sum(counts) == 103
    assert len(store.evaluation_events()) == 300
    exact = PostHogStore(seed=1, now=ANCHOR_US, items_per_dataset=7, datasets=6)
    assert [len(exact.item_ids(d)) for d in exact.dataset_ids()] == [7] * 6
    names = [exact.get_dataset(d)["name"] for d in exact.dataset_ids()]
    assert len(set(names)) == 6
    empty = PostHogStore(seed=1, now=ANCHOR_US, datasets=0, evaluations=0, evaluation_events=0)
    assert empty.dataset_ids() == [] and empty.evaluation_events() == []


def test_counts_do_not_depend_on_the_anchor() -> None:
    later = PostHogStore(seed=1, now="2027-05-05T05:00:00Z")
    assert len(later.item_ids()) == 103 and len(later.evaluation_events()) == 300


def test_relations_and_time_order() -> None:
    store = PostHogStore(seed=2, now=ANCHOR_US)
    for dataset_id in store.dataset_ids():
        dataset = store.get_dataset(dataset_id)
        assert dataset["created_at"] < dataset["updated_at"] <= "2026-11-02"
        for item_id in store.item_ids(dataset_id):
            item = store.get_item(item_id)
            assert item["dataset"] == dataset_id and item["created_at"] > dataset["created_at"]
            assert item["created_at"] < item["updated_at"] < "2026-11-02"
    evaluations = {e: store.get_evaluation(e) for e in store.evaluation_ids()}
    generations = {g["uuid"] for g in store.generation_events()}
    window_start = ANCHOR_US - 14 * DAY_US
    pairs = set()
    for event in store.evaluation_events():
        ts, created = parse_datetime_us(event["timestamp"]), parse_datetime_us(event["created_at"])
        assert window_start <= ts <= created <= ANCHOR_US
        props = event["properties"]
        evaluation = evaluations[props["$ai_evaluation_id"]]
        assert props["$ai_evaluation_name"] == evaluation["name"]
        assert props["$ai_target_event_id"] in generations
        assert props["$ai_target_event_type"] == GENERATION_EVENT
        pair = (props["$ai_evaluation_id"], props["$ai_target_event_id"])
        assert pair not in pairs  # one evaluation per generation at most once
        pairs.add(pair)
        if not evaluation["enabled"]:
            assert ts < parse_datetime_us(evaluation["updated_at"])  # none after disabling


def test_evaluation_event_properties() -> None:
    store = PostHogStore(seed=1, now=ANCHOR_US)
    evaluations = {e: store.get_evaluation(e) for e in store.evaluation_ids()}
    old_writer_until = ANCHOR_US - 12 * DAY_US
    seen_na = seen_old = False
    for event in store.evaluation_events():
        props = event["properties"]
        evaluation = evaluations[props["$ai_evaluation_id"]]
        allows_na = evaluation["output_config"]["allows_na"]
        old = parse_datetime_us(event["timestamp"]) < old_writer_until
        seen_old |= old
        assert props["$ai_evaluation_type"] == "online"
        if old:
            assert "$ai_evaluation_runtime" not in props
            assert "$ai_evaluation_allows_na" not in props
            assert "$ai_evaluation_applicable" not in props
            assert isinstance(props["$ai_evaluation_result"], bool)
            continue
        assert props["$ai_evaluation_runtime"] == evaluation["evaluation_type"]
        assert props["$ai_evaluation_allows_na"] is allows_na
        if allows_na:
            applicable = props["$ai_evaluation_applicable"]
            assert ("$ai_evaluation_result" in props) is applicable
            seen_na |= not applicable
        else:
            assert "$ai_evaluation_applicable" not in props
            assert isinstance(props["$ai_evaluation_result"], bool)
        judge_keys = {"$ai_model", "$ai_evaluation_model", "$ai_evaluation_key_type"}
        assert (judge_keys <= set(props)) is (evaluation["evaluation_type"] == "llm_judge")
    assert seen_na and seen_old


def test_generate_rejects_bad_sizes() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        generate(1, 1, ANCHOR_US, datasets=-1)
    with pytest.raises(ValueError, match="items_per_dataset"):
        generate(1, 1, ANCHOR_US, items_per_dataset=(5, 2))
    assert {e.event for e in generate(1, 1, ANCHOR_US).events} == {
        EVALUATION_EVENT,
        GENERATION_EVENT,
    }
