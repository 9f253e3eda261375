"""Wire helpers: DRF timestamps, id formats, ClickHouse UUID order."""

from __future__ import annotations

import random
import uuid

import pytest

from emulator.posthog.wire import (
    canonical_uuid,
    clickhouse_uuid_key,
    drf_iso,
    parse_datetime_us,
    uuid7,
    uuidt,
)


def test_drf_iso() -> None:
    assert (
        drf_iso(parse_datetime_us("2026-11-01T07:03:23.001666Z")) == "2026-11-01T07:03:23.001666Z"
    )
    assert drf_iso(parse_datetime_us("2026-11-01T07:03:23Z")) == "2026-11-01T07:03:23Z"
    assert parse_datetime_us("2026-11-01T09:03:23+02:00") == parse_datetime_us(
        "2026-11-01 07:03:23"
    )
    for bad in ("", "soon", None):
        with pytest.raises(ValueError):
            parse_datetime_us(bad)


def test_id_formats() -> None:
    rng = random.Random(1)
    ms = 1_795_000_000_123
    v7 = uuid.UUID(uuid7(ms, rng))
    assert v7.version == 7 and v7.variant == uuid.RFC_4122
    assert int(v7.hex[:12], 16) == ms
    t = uuid.UUID(uuidt(ms, 5, rng))
    assert int(t.hex[:12], 16) == ms and int(t.hex[12:16], 16) == 5
    assert canonical_uuid(" 01A195EB-8679-70DC-BDB4-48D0DD0225C2 ") == (
        "01a195eb-8679-70dc-bdb4-48d0dd0225c2"
    )
    assert canonical_uuid("nope") is None and canonical_uuid(5) is None


def test_clickhouse_uuid_order_uses_the_second_half_first() -> None:
    # the example from ClickHouse issue #52070
    values = [
        "3f5ffba3-19ff-4f3d-8861-60ae6e1fc1aa",
        "a72dc048-f72f-470e-b0f9-60cfad6e1157",
        "40634f4f-37bf-44e4-ac7c-6f024ad19990",
        "cb5818ab-83b5-48a8-8861-60ae6e1fc1aa",
        "ffffffff-ffff-ffff-0000-000000000000",
        "00000000-0000-0000-ffff-ffffffffffff",
    ]
    assert sorted(values, key=clickhouse_uuid_key) == [
        "ffffffff-ffff-ffff-0000-000000000000",
        "3f5ffba3-19ff-4f3d-8861-60ae6e1fc1aa",
        "cb5818ab-83b5-48a8-8861-60ae6e1fc1aa",
        "40634f4f-37bf-44e4-ac7c-6f024ad19990",
        "a72dc048-f72f-470e-b0f9-60cfad6e1157",
        "00000000-0000-0000-ffff-ffffffffffff",
    ]
