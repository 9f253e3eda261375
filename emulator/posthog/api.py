"""PostHog LLM analytics HTTP handlers (era B, see ``posthog.md`` §1-§4).

Mounted under both ``/api/environments/{id}`` and ``/api/projects/{id}`` (``{id}`` is the
emulated project id or ``@current``), trailing slash optional:

* ``datasets``, ``dataset_items``, ``evaluations``: list (limit/offset envelope), create,
  retrieve, PATCH, PUT; DELETE answers 405 with no body; ``deleted=true`` rows are hidden from
  list and retrieve but PATCH/PUT still reach them;
* ``evaluations/test_hog`` (POST), ``evaluation_runs`` (POST, 202, emits an ``$ai_evaluation``
  event), ``query`` (POST, one HogQL shape, see :mod:`emulator.posthog.hogql`).

Request checks run in DRF's order inside the group's auth hook: authentication (401), project
(404), scope (403), throttle (429); then the handler.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlencode

import orjson

from ..router import ApiGroup, Request, Response, Router, empty_response, json_response
from .data import KEY_OWNER, PostHogStore, json_text
from .generator import GENERATION_EVENT
from .hogql import UnsupportedQuery, parse_query
from .serializers import (
    body_object,
    boolean,
    char,
    datetime_us,
    validate_dataset,
    validate_evaluation,
    validate_item,
)
from .throttle import QueryConcurrencyExceeded, throttled_response
from .wire import (
    US_PER_S,
    ValidationFailed,
    canonical_uuid,
    drf_iso,
    error_response,
    method_not_allowed,
    not_found,
)

logger = logging.getLogger(__name__)

PREFIXES = ("/api/environments", "/api/projects")
RATE_LIMIT_NAME = "posthog"
DEFAULT_LIMIT = 100
CURRENT_TEAM = "@current"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
SYNC_REFRESH = (None, True, False, "blocking", "force_blocking", "force_cache")
QUERY_COLUMNS = ["uuid", "timestamp", "created_at", "properties"]
QUERY_TYPES = [
    ["uuid", "UUID"],
    ["timestamp", "DateTime64(6, 'UTC')"],
    ["created_at", "DateTime64(6, 'UTC')"],
    ["properties", "String"],
]

_PATH = re.compile(r"^/(?P<team>[^/]+)(?:/(?P<resource>[^/]+)(?:/(?P<rest>[^/]*))?)?(?:/.*)?$")
_SCOPE_OBJECTS = {
    "datasets": "dataset",
    "dataset_items": "dataset",
    "evaluations": "evaluation",
    "evaluation_runs": "evaluation",
}
_KIND = {"datasets": "dataset", "dataset_items": "item", "evaluations": "evaluation"}
_SORTABLE = {
    "datasets": ("created_at", "updated_at"),
    "evaluations": ("created_at", "updated_at", "name"),
}
_DEFAULT_ORDER = {
    "datasets": (("created_at", True), ("id", False)),
    "dataset_items": (("created_at", True), ("id", False)),
    "evaluations": (("created_at", True),),
}


def injected_fault(kind: str, _datadog_headers: dict[str, str]) -> Response:
    """PostHog's own bodies for injected faults (it sends no X-RateLimit headers)."""
    if kind == "429":
        return throttled_response(1)
    return error_response(int(kind), "server_error", "error", "A server error occurred.")


def _last(request: Request, name: str) -> str | None:
    """Django's ``QueryDict.get``: the last value of a repeated parameter."""
    values = request.query.get(name)
    return values[-1] if values else None


def _positive_int(text: str | None, strict: bool) -> int | None:
    """DRF's ``_positive_int`` (None when missing or invalid; 0 invalid when strict)."""
    if text is None:
        return None
    try:
        value = int(text)
    except ValueError:
        return None
    if value < 0 or (strict and value == 0):
        return None
    return value


def _with_params(request: Request, replace: dict[str, str], remove: tuple[str, ...] = ()) -> str:
    """DRF's ``replace_query_param`` / ``remove_query_param`` on the absolute request URL."""
    params = {key: list(values) for key, values in request.query.items() if key not in remove}
    for key, value in replace.items():
        params[key] = [value]
    query = urlencode(sorted(params.items()), doseq=True)
    url = f"{request.base_url}{quote(request.path)}"
    return f"{url}?{query}" if query else url


def paginate(request: Request, total: int, page: list[Any], limit: int, offset: int) -> Response:
    """The ``LimitOffsetPagination`` envelope."""
    next_link = None
    if offset + limit < total:
        next_link = _with_params(request, {"limit": str(limit), "offset": str(offset + limit)})
    previous_link = None
    if offset > 0:
        if offset - limit <= 0:
            previous_link = _with_params(request, {"limit": str(limit)}, remove=("offset",))
        else:
            previous_link = _with_params(
                request, {"limit": str(limit), "offset": str(offset - limit)}
            )
    return json_response(
        200, {"count": total, "next": next_link, "previous": previous_link, "results": page}
    )


def _uuid_list(text: str | None, attr: str) -> set[str] | None:
    if text is None or text == "":
        return None
    out: set[str] = set()
    for part in text.split(","):
        if not part.strip():
            continue
        canonical = canonical_uuid(part)
        if canonical is None:
            raise ValidationFailed(attr, "invalid", "Enter a valid UUID.")
        out.add(canonical)
    return out


def _order(request: Request, resource: str) -> tuple[tuple[str, bool], ...]:
    """django-filter ``OrderingFilter``: comma-separated, each allowed, replaces the default."""
    text = _last(request, "order_by")
    if not text:
        return _DEFAULT_ORDER[resource]
    allowed = _SORTABLE[resource]
    order: list[tuple[str, bool]] = []
    for part in text.split(","):
        descending = part.startswith("-")
        name = part[1:] if descending else part
        if name not in allowed:
            raise ValidationFailed(
                "order_by",
                "invalid_choice",
                f"Select a valid choice. {part} is not one of the available choices.",
            )
        order.append((name, descending))
    return tuple(order)


def _enabled_filter(request: Request) -> bool | None:
    value = _last(request, "enabled")
    if value is None:
        return None
    return {"true": True, "1": True, "false": False, "0": False}.get(value.strip().lower())


def _contains(needle: str, haystack: Any) -> bool:
    return isinstance(haystack, str) and needle in haystack.lower()


def _json_body(request: Request) -> Any:
    try:
        return request.json()
    except orjson.JSONDecodeError as exc:
        raise ValidationFailed(None, "parse_error", f"JSON parse error - {exc}") from None


class PostHogApi:
    """Registers the PostHog routes on a router.

    Args:
        store: The emulated project (also holds ``auth`` and ``throttle``).
    """

    name = "posthog"

    def __init__(self, store: PostHogStore) -> None:
        self.store = store

    # registration ---------------------------------------------------------------------------

    def register(self, router: Router) -> tuple[ApiGroup, ...]:
        """Add one API group per path prefix and their routes."""
        groups: list[ApiGroup] = []
        for prefix in PREFIXES:
            group = router.add_group(
                ApiGroup(
                    name=self.name,
                    prefix=prefix,
                    authenticate=self.authenticate,
                    rate_limit_name=RATE_LIMIT_NAME,
                    not_found=lambda _req: not_found("Endpoint not found."),
                    fault=injected_fault,
                )
            )
            groups.append(group)
            team = r"/(?P<team>[^/]+)"
            row_id = r"/(?P<id>[^/]+)"
            self._resource(
                router, group, rf"{team}/evaluations/test_hog/?", {"POST": self.test_hog}
            )
            for resource in ("datasets", "dataset_items", "evaluations"):
                self._resource(
                    router,
                    group,
                    rf"{team}/{resource}/?",
                    {"GET": self._lister(resource), "POST": self._creator(resource)},
                )
                self._resource(
                    router,
                    group,
                    rf"{team}/{resource}{row_id}/?",
                    {
                        "GET": self._retriever(resource),
                        "PATCH": self._updater(resource, partial=True),
                        "PUT": self._updater(resource, partial=False),
                        "DELETE": self.forbid_destroy,
                    },
                )
            self._resource(
                router, group, rf"{team}/evaluation_runs/?", {"POST": self.evaluation_runs}
            )
            self._resource(router, group, rf"{team}/query/?", {"POST": self.query})
        return tuple(groups)

    def _resource(
        self,
        router: Router,
        group: ApiGroup,
        pattern: str,
        handlers: dict[str, Callable[[Request], Response]],
    ) -> None:
        allowed = tuple(m for m in METHODS if m in handlers)
        for method in METHODS:
            handler = handlers.get(method)
            if handler is None:
                handler = self._not_allowed(allowed)
            router.add(method, pattern, self._wrap(handler), group)

    @staticmethod
    def _not_allowed(allowed: tuple[str, ...]) -> Callable[[Request], Response]:
        def handler(request: Request) -> Response:
            return method_not_allowed(request.method, allowed)

        return handler

    @staticmethod
    def _wrap(handler: Callable[[Request], Response]) -> Callable[[Request], Response]:
        def wrapped(request: Request) -> Response:
            try:
                return handler(request)
            except ValidationFailed as exc:
                return exc.response()

        wrapped.__name__ = getattr(handler, "__name__", "handler")
        return wrapped

    # auth, project, scope, throttle -------------------------------------------------------

    def _split(self, request: Request) -> tuple[str, str | None, str | None]:
        for prefix in PREFIXES:
            if request.path.startswith(prefix + "/"):
                found = _PATH.match(request.path[len(prefix) :])
                if found is not None:
                    return found.group("team"), found.group("resource"), found.group("rest")
        return "", None, None

    @staticmethod
    def required_scope(method: str, resource: str | None, rest: str | None) -> str | None:
        """The scope a request needs (None for unknown paths)."""
        if resource == "query":
            return "query:read"
        scope_object = _SCOPE_OBJECTS.get(resource or "")
        if scope_object is None:
            return None
        if resource == "evaluations" and rest == "test_hog":
            return "evaluation:read"  # a POST, explicitly declared read-only in PostHog
        action = "read" if method == "GET" else "write"
        return f"{scope_object}:{action}"

    def authenticate(self, request: Request) -> Response | None:
        """The group's check: 401, 404 (other project), 403 (scope), 429 (throttle)."""
        store = self.store
        denied = store.auth.authenticate(request)
        if denied is not None:
            return denied
        team, resource, rest = self._split(request)
        if team not in (str(store.project_id), CURRENT_TEAM):
            return not_found("Project not found.")
        denied = store.auth.check_scope(self.required_scope(request.method, resource, rest))
        if denied is not None:
            return denied
        if resource == "query":
            return store.throttle.check("query", str(store.project_id))
        return store.throttle.check("crud", store.auth.key_hash(request))

    # list / retrieve ----------------------------------------------------------------------

    def _lister(self, resource: str) -> Callable[[Request], Response]:
        def handler(request: Request) -> Response:
            return self.list_rows(request, resource)

        handler.__name__ = f"list_{resource}"
        return handler

    def list_rows(self, request: Request, resource: str) -> Response:
        """``GET /{resource}/`` with the resource's filters and the limit/offset envelope."""
        store = self.store
        kind = _KIND[resource]
        predicates: list[Callable[[dict[str, Any]], bool]] = []
        cache_key: Any = None
        if resource == "dataset_items":
            order = _DEFAULT_ORDER[resource]  # fixed: no order_by, no search
            dataset = _last(request, "dataset")
            if dataset:
                canonical = canonical_uuid(dataset)
                if canonical is None or not store.exists("dataset", canonical):
                    raise ValidationFailed(
                        "dataset",
                        "invalid_choice",
                        "Select a valid choice. That choice is not one of the available choices.",
                    )
                predicates.append(lambda row: row.get("dataset") == canonical)
                cache_key = ("dataset", canonical)
        else:
            order = _order(request, resource)
            ids = _uuid_list(_last(request, "id__in"), "id__in")
            if ids is not None:
                predicates.append(lambda row: row["id"] in ids)
            needle = (_last(request, "search") or "").lower()
            if needle and resource == "datasets":
                predicates.append(
                    lambda row: (
                        _contains(needle, row.get("name"))
                        or _contains(needle, row.get("description"))
                        or (
                            row.get("metadata") is not None
                            and needle in json_text(row.get("metadata")).lower()
                        )
                    )
                )
            elif needle:
                predicates.append(
                    lambda row: (
                        _contains(needle, row.get("name"))
                        or _contains(needle, row.get("description"))
                    )
                )
            if resource == "evaluations":
                enabled = _enabled_filter(request)
                if enabled is not None:
                    predicates.append(lambda row: row.get("enabled") is enabled)

        def matches(row: dict[str, Any]) -> bool:
            return all(predicate(row) for predicate in predicates)

        limit = _positive_int(_last(request, "limit"), strict=True) or DEFAULT_LIMIT
        offset = _positive_int(_last(request, "offset"), strict=False) or 0
        with store.lock:
            rows = store.list_rows(kind, order, matches if predicates else None, cache_key)
            page = [store.render(kind, row) for row in rows[offset : offset + limit]]
            return paginate(request, len(rows), page, limit, offset)

    def _retriever(self, resource: str) -> Callable[[Request], Response]:
        kind = _KIND[resource]

        def handler(request: Request) -> Response:
            with self.store.lock:
                row = self.store.visible(kind, request.params["id"])
                if row is None:
                    return not_found()
                return json_response(200, self.store.render(kind, row))

        handler.__name__ = f"retrieve_{resource}"
        return handler

    # create / update / destroy --------------------------------------------------------------

    def _validate(self, resource: str, body: Any, partial: bool) -> dict[str, Any]:
        if resource == "datasets":
            return validate_dataset(body, partial)
        if resource == "dataset_items":
            return validate_item(body, partial, lambda i: self.store.exists("dataset", i))
        return validate_evaluation(body, partial)

    def _creator(self, resource: str) -> Callable[[Request], Response]:
        kind = _KIND[resource]

        def handler(request: Request) -> Response:
            fields = self._validate(resource, _json_body(request), partial=False)
            with self.store.lock:
                row_id = self.store.create_row(kind, fields, KEY_OWNER)
                return json_response(201, self.store.rendered(kind, row_id))

        handler.__name__ = f"create_{resource}"
        return handler

    def _updater(self, resource: str, partial: bool) -> Callable[[Request], Response]:
        kind = _KIND[resource]

        def handler(request: Request) -> Response:
            store = self.store
            if not store.exists(kind, request.params["id"]):
                return not_found()  # update actions reach soft-deleted rows, not missing ones
            fields = self._validate(resource, _json_body(request), partial)
            try:
                rendered = store.update_row(kind, request.params["id"], fields, touch=True)
            except KeyError:
                return not_found()
            return json_response(200, rendered)

        handler.__name__ = f"{'partial_update' if partial else 'update'}_{resource}"
        return handler

    @staticmethod
    def forbid_destroy(_request: Request) -> Response:
        """``ForbidDestroyModel``: 405 without a body."""
        return empty_response(405)

    # evaluations/test_hog ---------------------------------------------------------------------

    def test_hog(self, request: Request) -> Response:
        """Dry-run Hog code against the newest ``$ai_generation`` events (last 7 days)."""
        data = body_object(_json_body(request))
        if "source" not in data:
            raise ValidationFailed("source", "required", "This field is required.")
        source = char(
            data["source"], "source", max_length=None, allow_null=False, allow_blank=False
        )
        assert source is not None
        sample_count = data.get("sample_count", 5)
        if isinstance(sample_count, bool) or not isinstance(sample_count, (int, str)):
            raise ValidationFailed("sample_count", "invalid", "A valid integer is required.")
        try:
            sample_count = int(sample_count)
        except ValueError:
            raise ValidationFailed(
                "sample_count", "invalid", "A valid integer is required."
            ) from None
        if sample_count < 1:
            raise ValidationFailed(
                "sample_count", "min_value", "Ensure this value is greater than or equal to 1."
            )
        if sample_count > 10:
            raise ValidationFailed(
                "sample_count", "max_value", "Ensure this value is less than or equal to 10."
            )
        allows_na = boolean(data.get("allows_na", False), "allows_na", allow_null=False)
        conditions = data.get("conditions", [])
        if not isinstance(conditions, list):
            raise ValidationFailed("conditions", "not_a_list", "Expected a list of items.")
        problem = _hog_syntax_problem(source)
        if problem is not None:
            return json_response(400, {"error": f"Compilation failed: {problem}"})
        generations = self.store.recent_generations(sample_count)
        results = []
        for event in generations:
            digest = hashlib.sha256(f"{source}|{event.uuid}".encode()).digest()
            verdict: bool | None = digest[0] % 5 != 0
            if allows_na and digest[1] % 7 == 0:
                verdict = None
            results.append(
                {
                    "event_uuid": event.uuid,
                    "trace_id": event.properties.get("$ai_trace_id"),
                    "input_preview": _preview(event.properties.get("$ai_input")),
                    "output_preview": _preview(event.properties.get("$ai_output_choices")),
                    "result": verdict,
                    "reasoning": None,
                    "error": None,
                }
            )
        body: dict[str, Any] = {"results": results}
        if not results:
            body["message"] = f"No {GENERATION_EVENT} events found in the last 7 days"
        return json_response(200, body)

    # evaluation_runs --------------------------------------------------------------------------

    def evaluation_runs(self, request: Request) -> Response:
        """Start a manual evaluation run: 202 with a workflow id; emits an ``$ai_evaluation``."""
        store = self.store
        try:
            data = body_object(_json_body(request))
        except ValidationFailed as exc:
            return json_response(400, {"error": {"non_field_errors": [exc.detail]}})
        errors: dict[str, list[str]] = {}
        evaluation_id = self._run_uuid(data, "evaluation_id", errors)
        target_id = self._run_uuid(data, "target_event_id", errors)
        timestamp_us: int | None = None
        if "timestamp" not in data:
            errors["timestamp"] = ["This field is required."]
        else:
            try:
                timestamp_us = datetime_us(data["timestamp"], "timestamp", allow_null=False)
            except ValidationFailed as exc:
                errors["timestamp"] = [exc.detail]
        event_name = data.get("event", GENERATION_EVENT)
        distinct_id = data.get("distinct_id")
        try:
            event_name = char(
                event_name, "event", max_length=None, allow_null=False, allow_blank=False
            )
            distinct_id = char(
                distinct_id, "distinct_id", max_length=None, allow_null=True, allow_blank=True
            )
        except ValidationFailed as exc:
            errors[exc.attr or "non_field_errors"] = [exc.detail]
        if errors:
            return json_response(400, {"error": errors})
        assert evaluation_id is not None and target_id is not None and timestamp_us is not None
        with store.lock:
            evaluation = store.visible("evaluation", evaluation_id)
            if evaluation is None:
                return json_response(404, {"error": f"Evaluation {evaluation_id} not found"})
            event = store.find_event(target_id)
            day = timestamp_us // (86_400 * US_PER_S)
            if (
                event is None
                or event.event != event_name
                or event.timestamp_us // (86_400 * US_PER_S) != day
                or (distinct_id and event.distinct_id != distinct_id)
            ):
                return json_response(404, {"error": f"Event {target_id} not found"})
            started_ms = time.time_ns() // 1_000_000
            store.record_evaluation(evaluation_id, target=event, timestamp=store.now_us())
            logger.debug("evaluation run %s on %s recorded", evaluation_id, target_id)
            return json_response(
                202,
                {
                    "workflow_id": f"{evaluation_id}-{target_id}-manual-{started_ms}",
                    "status": "started",
                    "evaluation": {"id": evaluation["id"], "name": evaluation["name"]},
                    "target_event_id": target_id,
                },
            )

    @staticmethod
    def _run_uuid(data: dict[str, Any], name: str, errors: dict[str, list[str]]) -> str | None:
        if name not in data:
            errors[name] = ["This field is required."]
            return None
        if data[name] is None:
            errors[name] = ["This field may not be null."]
            return None
        canonical = canonical_uuid(data[name])
        if canonical is None:
            errors[name] = ["Must be a valid UUID."]
        return canonical

    # query --------------------------------------------------------------------------------------

    def query(self, request: Request) -> Response:
        """``POST /query/``: the supported HogQL shape over the ``$ai_evaluation`` events."""
        store = self.store
        data = body_object(_json_body(request))
        query = data.get("query")
        if not isinstance(query, dict):
            raise ValidationFailed(
                "query", "invalid_input", "query must be an object with a 'kind'"
            )
        if query.get("kind") != "HogQLQuery":
            raise ValidationFailed(
                "query",
                "invalid_input",
                "The PostHog emulator only supports query kind 'HogQLQuery', "
                f"got {query.get('kind')!r}",
            )
        refresh = data.get("refresh")
        if refresh not in SYNC_REFRESH or data.get("async"):
            raise ValidationFailed(
                "refresh",
                "invalid_input",
                f"The PostHog emulator only runs queries synchronously; refresh={refresh!r} "
                "is not supported (use 'blocking' or 'force_blocking')",
            )
        text = query.get("query")
        try:
            parsed = parse_query(text)
        except UnsupportedQuery as exc:
            raise ValidationFailed(None, "invalid_input", str(exc)) from None
        task_id = data.get("client_query_id") or uuid.uuid4().hex
        started = time.perf_counter()
        try:
            with store.throttle.query_slot(str(store.project_id), str(task_id)):
                events, has_more = store.query_evaluations(
                    parsed.start_us, parsed.end_us, parsed.after, parsed.limit
                )
        except QueryConcurrencyExceeded as exc:
            return throttled_response(None, str(exc))
        results = [
            [
                event.uuid,
                drf_iso(event.timestamp_us),
                drf_iso(event.created_at_us),
                orjson.dumps(event.properties).decode(),
            ]
            for event in events
        ]
        now_us = time.time_ns() // 1000
        assert isinstance(text, str)
        normalized = " ".join(text.split())
        return json_response(
            200,
            {
                "cache_key": "cache_" + hashlib.sha256(normalized.encode()).hexdigest()[:32],
                "clickhouse": _clickhouse_sql(normalized),
                "columns": QUERY_COLUMNS,
                "error": None,
                "explain": None,
                # With its own LIMIT the query is not paginated: PostHog leaves these null.
                "hasMore": None if parsed.limit_given else has_more,
                "hogql": normalized,
                "is_cached": False,
                "last_refresh": drf_iso(now_us),
                "limit": None if parsed.limit_given else parsed.limit,
                "metadata": None,
                "modifiers": None,
                "next_allowed_client_refresh": drf_iso(now_us + 60 * US_PER_S),
                "offset": None if parsed.limit_given else 0,
                "query": text,
                "query_status": None,
                "results": results,
                "timezone": "UTC",
                "timings": [{"k": "./total", "t": round(time.perf_counter() - started, 6)}],
                "types": QUERY_TYPES,
            },
        )


def _preview(value: Any) -> str:
    text = value if isinstance(value, str) else orjson.dumps(value).decode()
    return text[:200]


def _hog_syntax_problem(source: str) -> str | None:
    """A minimal stand-in for the Hog compiler: unbalanced brackets or quotes fail."""
    pairs = {")": "(", "]": "[", "}": "{"}
    stack: list[str] = []
    quote_char: str | None = None
    for position, char_ in enumerate(source):
        if quote_char is not None:
            if char_ == quote_char:
                quote_char = None
            continue
        if char_ in "'\"":
            quote_char = char_
        elif char_ in "([{":
            stack.append(char_)
        elif char_ in pairs and (not stack or stack.pop() != pairs[char_]):
            return f"unexpected {char_!r} at position {position}"
    if quote_char is not None:
        return "unterminated string"
    if stack:
        return f"unclosed {stack[-1]!r}"
    return None


def _clickhouse_sql(hogql: str) -> str:
    """A plausible rendering of the executed ClickHouse SQL (informational only)."""
    return (
        "SELECT events.uuid, toTimeZone(events.timestamp, %(hogql_val_0)s), "
        "toTimeZone(events.created_at, %(hogql_val_1)s), events.properties FROM events "
        f"WHERE equals(events.team_id, <team>) /* {len(hogql)} chars of HogQL */"
    )
