"""PostHog personal-API-key authentication and scope checks.

The key is read, like PostHog does, from the first of: ``Authorization: Bearer <key>``, a
``personal_api_key`` field of a JSON body, the ``personal_api_key`` query parameter. No key gives
401 ``not_authenticated``; a key other than the configured one gives 401
``authentication_failed`` (any non-empty key is accepted when none is configured). Scopes follow
``APIScopePermission``: ``*`` passes everything, ``<object>:write`` satisfies
``<object>:read``, a missing scope gives 403 ``API key missing required scope '<scope>'``;
``scopes=None`` is a legacy key without scopes (allowed everything). Key values are never
logged or stored: throttles use a hash.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections.abc import Iterable

import orjson

from ..router import Request, Response
from .wire import error_response

KEY_FIELD = "personal_api_key"
ALL_SCOPES = "*"


def _unauthorized(code: str, detail: str) -> Response:
    return error_response(
        401,
        "authentication_error",
        code,
        detail,
        headers={"WWW-Authenticate": 'Bearer realm="api"'},
    )


class PostHogKeyAuth:
    """Checks the personal API key and its scopes.

    Args:
        api_key: The only accepted key, or None to accept any non-empty key.
        scopes: The key's scopes (``("*",)`` = everything; None = legacy key without scopes).
    """

    def __init__(self, api_key: str | None = None, scopes: Iterable[str] | None = (ALL_SCOPES,)):
        self._api_key = api_key
        self._lock = threading.Lock()
        self._scopes: frozenset[str] | None = None
        self.scopes = scopes

    @property
    def scopes(self) -> frozenset[str] | None:
        """The key's scopes (None = legacy key, allowed everything); assignable at runtime."""
        return self._scopes

    @scopes.setter
    def scopes(self, value: Iterable[str] | None) -> None:
        if isinstance(value, str):
            raise TypeError("scopes must be an iterable of scope strings, not one string")
        with self._lock:
            self._scopes = None if value is None else frozenset(value)

    @staticmethod
    def find_key(request: Request) -> tuple[str | None, str]:
        """``(key or None, where it was found)`` in PostHog's order: header, body, query."""
        header = request.header("Authorization") or ""
        scheme, _, token = header.strip().partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip(), "Authorization header"
        if request.body:
            try:
                body = orjson.loads(request.body)
            except orjson.JSONDecodeError:
                body = None
            if isinstance(body, dict) and isinstance(body.get(KEY_FIELD), str) and body[KEY_FIELD]:
                return body[KEY_FIELD], "body"
        value = request.arg(KEY_FIELD)
        if value:
            return value, "query string"
        return None, ""

    def authenticate(self, request: Request) -> Response | None:
        """401 response when the request carries no valid key, else None."""
        key, source = self.find_key(request)
        if key is None:
            return _unauthorized(
                "not_authenticated", "Authentication credentials were not provided."
            )
        if self._api_key is not None and not hmac.compare_digest(key, self._api_key):
            return _unauthorized(
                "authentication_failed", f"Personal API key found in request {source} is invalid."
            )
        return None

    def has_scope(self, required: str) -> bool:
        """Whether the key's scopes satisfy ``required`` (e.g. ``dataset:read``)."""
        scopes = self._scopes
        if scopes is None or ALL_SCOPES in scopes or required in scopes:
            return True
        scope_object, _, action = required.partition(":")
        return action == "read" and f"{scope_object}:write" in scopes

    def check_scope(self, required: str | None) -> Response | None:
        """403 response when the key lacks ``required``, else None."""
        if required is None or self.has_scope(required):
            return None
        return error_response(
            403,
            "authentication_error",
            "permission_denied",
            f"API key missing required scope '{required}'",
        )

    @staticmethod
    def key_hash(request: Request) -> str:
        """Opaque per-key identity for throttling (never the key itself)."""
        key, _ = PostHogKeyAuth.find_key(request)
        return hashlib.sha256((key or "").encode()).hexdigest()[:16]
