"""The ``--posthog-*`` flags of ``python -m emulator``."""

from __future__ import annotations

import pytest

from emulator import Emulator
from emulator.cli import build_parser
from emulator.posthog.cli_args import posthog_kwargs

from .conftest import PhApi


def test_defaults_match_the_emulator_defaults() -> None:
    kwargs = posthog_kwargs(build_parser().parse_args([]))
    assert kwargs["posthog_items_per_dataset"] == (10, 40)
    assert kwargs["posthog_scopes"] == ("*",)
    assert kwargs["posthog_project_id"] == 1 and kwargs["posthog_rate_limit"] is None


def test_flags_reach_the_emulator() -> None:
    args = build_parser().parse_args(
        [
            "--posthog-project-id",
            "7",
            "--posthog-api-key",
            "phx_cli",
            "--posthog-scopes",
            "dataset:read, query:read",
            "--posthog-items-per-dataset",
            "4",
            "--posthog-datasets",
            "2",
            "--posthog-now",
            "2026-11-02T00:00:00Z",
            "--posthog-rate-limit",
            "480/60,4800/3600",
            "--posthog-query-concurrency",
            "3",
        ]
    )
    with Emulator(runs=5, **posthog_kwargs(args)) as emu:
        api = PhApi(emu, key="phx_cli", prefix="/api/projects/7")
        assert api.ok("/dataset_items/")["count"] == 8
        assert api.get("/evaluations/").status_code == 403
        assert emu.posthog.throttle.crud_limits == ((480, 60.0), (4800, 3600.0))
        assert emu.posthog.throttle.query_concurrency == 3
    legacy = posthog_kwargs(build_parser().parse_args(["--posthog-scopes", "legacy"]))
    assert legacy["posthog_scopes"] is None


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--posthog-items-per-dataset", "9-3"], "--posthog-items-per-dataset"),
        (["--posthog-items-per-dataset", "many"], "--posthog-items-per-dataset"),
        (["--posthog-now", "tomorrow"], "--posthog-now"),
        (["--posthog-datasets", "-1"], "--posthog-datasets"),
        (["--posthog-query-rate-limit", "fast"], "--posthog-query-rate-limit"),
    ],
)
def test_bad_flags_name_the_flag(argv: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        posthog_kwargs(build_parser().parse_args(argv))
