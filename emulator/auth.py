"""Datadog API-key + application-key authentication (shared by every Datadog API module).

Both ``DD-API-KEY`` and ``DD-APPLICATION-KEY`` must be present and non-empty; when the emulator
was configured with expected values they must match exactly. Failures answer 403 with a JSON:API
error body. Key values are never logged or stored; per-user state is keyed by a hash of the
application key.
"""

from __future__ import annotations

import hashlib
import hmac

from .router import Request, Response, json_response

API_KEY_HEADER = "DD-API-KEY"
APP_KEY_HEADER = "DD-APPLICATION-KEY"


def forbidden(detail: str) -> Response:
    """403 with the JSON:API error shape."""
    return json_response(403, {"errors": [{"title": "Forbidden", "detail": detail}]})


class DatadogKeyAuth:
    """Callable auth check for Datadog APIs.

    Args:
        api_key: Expected API key, or None to accept any non-empty value.
        app_key: Expected application key, or None to accept any non-empty value.
    """

    def __init__(self, api_key: str | None = None, app_key: str | None = None) -> None:
        self._api_key = api_key
        self._app_key = app_key

    def __call__(self, request: Request) -> Response | None:
        api_key = request.header(API_KEY_HEADER)
        app_key = request.header(APP_KEY_HEADER)
        if not api_key:
            return forbidden(f"missing or empty {API_KEY_HEADER} header")
        if not app_key:
            return forbidden(f"missing or empty {APP_KEY_HEADER} header")
        if self._api_key is not None and not hmac.compare_digest(api_key, self._api_key):
            return forbidden("invalid API key")
        if self._app_key is not None and not hmac.compare_digest(app_key, self._app_key):
            return forbidden("invalid application key")
        return None

    @staticmethod
    def user_of(request: Request) -> str:
        """Opaque per-user key derived from the application key (never the key itself)."""
        app_key = request.header(APP_KEY_HEADER) or ""
        return hashlib.sha256(app_key.encode()).hexdigest()[:16]
