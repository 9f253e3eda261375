"""Personal API key authentication and scopes on every PostHog route."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from emulator import Emulator

from .conftest import ANCHOR, KEY, PhApi

# (method, path, body, required scope)
ROUTES = [
    ("GET", "/datasets/", None, "dataset:read"),
    ("POST", "/datasets/", {"name": "n"}, "dataset:write"),
    ("GET", "/dataset_items/", None, "dataset:read"),
    ("GET", "/evaluations/", None, "evaluation:read"),
    ("POST", "/evaluations/test_hog/", {"source": "return true"}, "evaluation:read"),
    ("POST", "/evaluation_runs/", {}, "evaluation:write"),
    ("POST", "/query/", {"query": {"kind": "HogQLQuery", "query": "select 1"}}, "query:read"),
]


@pytest.fixture(scope="module")
def keyed() -> Iterator[Emulator]:
    """An emulator that accepts only ``KEY``."""
    with Emulator(posthog_api_key=KEY, posthog_now=ANCHOR, runs=5) as emu:
        yield emu


@pytest.mark.parametrize(("method", "path", "body", "scope"), ROUTES)
def test_missing_key_is_401(
    keyed: Emulator, method: str, path: str, body: object, scope: str
) -> None:
    response = PhApi(keyed, key=None).request(method, path, json=body)
    assert response.status_code == 401
    assert response.json() == {
        "type": "authentication_error",
        "code": "not_authenticated",
        "detail": "Authentication credentials were not provided.",
        "attr": None,
    }
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_wrong_key_is_401_without_echoing_it(keyed: Emulator) -> None:
    response = PhApi(keyed, key="phx_wrong_secret_value").get("/datasets/")
    assert response.status_code == 401
    body = response.json()
    assert body["code"] == "authentication_failed"
    assert body["detail"] == "Personal API key found in request Authorization header is invalid."
    assert "phx_wrong_secret_value" not in response.text
    basic = PhApi(keyed, key=None)
    basic.session.headers["Authorization"] = f"Basic {KEY}"
    assert basic.get("/datasets/").json()["code"] == "not_authenticated"


def test_key_in_body_or_query_string(keyed: Emulator) -> None:
    anonymous = PhApi(keyed, key=None)
    assert anonymous.get("/datasets/", {"personal_api_key": KEY}).status_code == 200
    created = anonymous.request(
        "POST", "/datasets/", json={"name": "via body", "personal_api_key": KEY}
    )
    assert created.status_code == 201 and "personal_api_key" not in created.json()
    wrong = anonymous.get("/datasets/", {"personal_api_key": "nope"})
    assert wrong.json()["detail"] == "Personal API key found in request query string is invalid."


def test_any_key_accepted_without_configured_key() -> None:
    with Emulator(posthog_now=ANCHOR, runs=5) as emu:
        assert PhApi(emu, key="anything").get("/datasets/").status_code == 200
        assert PhApi(emu, key=None).get("/datasets/").status_code == 401


@pytest.mark.parametrize(("method", "path", "body", "scope"), ROUTES)
def test_missing_scope_is_403(
    keyed: Emulator, method: str, path: str, body: object, scope: str
) -> None:
    others = [s for *_, s in ROUTES if s.split(":")[0] != scope.split(":")[0]]
    keyed.posthog.auth.scopes = others
    try:
        response = PhApi(keyed).request(method, path, json=body)
    finally:
        keyed.posthog.auth.scopes = ("*",)
    assert response.status_code == 403
    assert response.json() == {
        "type": "authentication_error",
        "code": "permission_denied",
        "detail": f"API key missing required scope '{scope}'",
        "attr": None,
    }


def test_write_implies_read_and_read_is_not_write(keyed: Emulator) -> None:
    api = PhApi(keyed)
    keyed.posthog.auth.scopes = ["dataset:write"]
    try:
        assert api.get("/datasets/").status_code == 200
        assert api.get("/dataset_items/").status_code == 200
        assert api.get("/evaluations/").status_code == 403
        keyed.posthog.auth.scopes = ["dataset:read", "evaluation:read"]
        assert api.request("POST", "/datasets/", json={"name": "x"}).status_code == 403
        row = api.ok("/datasets/")["results"][0]
        patch = api.request("PATCH", f"/datasets/{row['id']}/", json={"name": "x"})
        assert patch.json()["detail"] == "API key missing required scope 'dataset:write'"
        # test_hog is a POST that only needs evaluation:read
        hog = api.request("POST", "/evaluations/test_hog/", json={"source": "return true"})
        assert hog.status_code == 200
        keyed.posthog.auth.scopes = None  # a legacy key without scopes may do everything
        assert api.request("POST", "/datasets/", json={"name": "legacy"}).status_code == 201
    finally:
        keyed.posthog.auth.scopes = ("*",)


def test_unauthenticated_before_project_and_scope(keyed: Emulator) -> None:
    keyed.posthog.auth.scopes = []
    try:
        assert PhApi(keyed, key=None, prefix="/api/projects/9").get("/datasets/").status_code == 401
        assert PhApi(keyed, prefix="/api/projects/9").get("/datasets/").status_code == 404
        assert PhApi(keyed).get("/datasets/").status_code == 403
    finally:
        keyed.posthog.auth.scopes = ("*",)


def test_scopes_keyword_and_type_check() -> None:
    with Emulator(posthog_scopes=("query:read",), posthog_now=ANCHOR, runs=5) as emu:
        assert PhApi(emu).get("/datasets/").status_code == 403
        with pytest.raises(TypeError, match="iterable of scope strings"):
            emu.posthog.auth.scopes = "dataset:read"  # type: ignore[assignment]
