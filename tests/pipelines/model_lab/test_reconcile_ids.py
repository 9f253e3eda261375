"""The id arrays reconciliation compares: what the warehouse holds, flagged and listed."""

from __future__ import annotations

from array import array

import numpy as np

from pipelines.model_lab.helpers import id_array, missing_ids
from pipelines.model_lab.settings import ENTITY_PROJECT, ENTITY_RUN

LOW, HIGH = -(2**63), 2**63 - 1


def test_id_array_sorts_and_drops_repeats_from_sets_arrays_and_numpy() -> None:
    expected = [LOW, -1, 0, 5, HIGH]
    for ids in ({5, HIGH, 0, LOW, -1}, array("q", [HIGH, 5, 5, LOW, 0, -1, HIGH])):
        assert id_array(ids).tolist() == expected
    assert id_array(np.array([3, 1, 3], np.int32)).dtype == np.int64
    assert id_array([]).tolist() == []


def test_missing_ids_leave_out_listed_and_already_flagged_ones() -> None:
    known = {ENTITY_RUN: id_array([LOW, 1, 2, 3, 4, HIGH])}
    flagged = {ENTITY_RUN: id_array([2, 99])}  # 99: flagged before, not known any more
    listed = id_array(array("q", [3, 3, 1, 7]))
    assert missing_ids(known, flagged, ENTITY_RUN, listed) == [LOW, 4, HIGH]
    assert missing_ids(known, {}, ENTITY_RUN, id_array([])) == [LOW, 1, 2, 3, 4, HIGH]
    assert missing_ids(known, flagged, ENTITY_PROJECT, listed) == []
    assert all(type(i) is int for i in missing_ids(known, flagged, ENTITY_RUN, listed))
