"""PostHog settings: dlt's SOURCES__POSTHOG__* and PostHog's own POSTHOG_* variables."""

from __future__ import annotations

import pytest

from pipelines.common.errors import ConfigurationError
from pipelines.posthog.credentials import posthog_configured, resolve_credentials
from pipelines.posthog.factory import results_options

KEY = "phx_test_key_4b1d"


def test_dlt_settings_win_over_posthog_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCES__POSTHOG__API_KEY", KEY)
    monkeypatch.setenv("SOURCES__POSTHOG__PROJECT_ID", "42")
    monkeypatch.setenv("SOURCES__POSTHOG__BASE_URL", "https://eu.posthog.com/")
    monkeypatch.setenv("POSTHOG_PERSONAL_API_KEY", "phx_other")
    monkeypatch.setenv("POSTHOG_PROJECT_ID", "7")
    monkeypatch.setenv("POSTHOG_HOST", "https://example.org")
    creds = resolve_credentials()
    assert (creds.api_key, creds.project_id, creds.base_url) == (KEY, 42, "https://eu.posthog.com")
    assert KEY not in repr(creds)
    assert creds.headers() == {"Authorization": f"Bearer {KEY}"}


def test_posthog_variables_and_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not posthog_configured()
    monkeypatch.setenv("POSTHOG_PERSONAL_API_KEY", KEY)
    monkeypatch.setenv("POSTHOG_PROJECT_ID", "7")
    assert posthog_configured()
    creds = resolve_credentials()
    assert (creds.project_id, creds.base_url) == (7, "https://us.posthog.com")
    # the SDKs' capture host serves no private API: the app host of its region is used
    monkeypatch.setenv("POSTHOG_HOST", "https://eu.i.posthog.com")
    assert resolve_credentials().base_url == "https://eu.posthog.com"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "SOURCES__POSTHOG__API_KEY, POSTHOG_PERSONAL_API_KEY"),
        ({"POSTHOG_PERSONAL_API_KEY": KEY}, "SOURCES__POSTHOG__PROJECT_ID, POSTHOG_PROJECT_ID"),
        (
            {"POSTHOG_PERSONAL_API_KEY": KEY, "POSTHOG_PROJECT_ID": "abc"},
            "must be a positive integer, got 'abc'",
        ),
        (
            {"POSTHOG_PERSONAL_API_KEY": KEY, "POSTHOG_PROJECT_ID": "1", "POSTHOG_HOST": "x.org"},
            "must be an http:// or https:// URL",
        ),
        (
            {"POSTHOG_PERSONAL_API_KEY": "phc_public_9", "POSTHOG_PROJECT_ID": "1"},
            "project API key",
        ),
    ],
)
def test_bad_settings_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError, match=message) as caught:
        resolve_credentials()
    assert "phc_public_9" not in str(caught.value)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("SOURCES__POSTHOG__QUERY_CONCURRENCY", "4", "query_concurrency must be <= 3"),
        ("SOURCES__POSTHOG__QUERY_PAGE_SIZE", "60000", "query_page_size must be <= 50000"),
        ("SOURCES__POSTHOG__RESULTS_START_DATE", "last year", "results_start_date"),
        ("SOURCES__POSTHOG__RESULTS_WINDOW_HOURS", "0", "results_window_hours must be >="),
    ],
)
def test_bad_result_options_are_configuration_errors(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError, match=message):
        results_options()
