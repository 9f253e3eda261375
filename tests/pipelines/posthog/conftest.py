"""PostHog fixtures: no developer PostHog settings leak into the tests."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def no_posthog_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("POSTHOG_"):
            monkeypatch.delenv(name, raising=False)
