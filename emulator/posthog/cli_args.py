"""PostHog options of ``python -m emulator`` (kept here so ``emulator/cli.py`` stays small)."""

from __future__ import annotations

import argparse
from typing import Any

from .throttle import parse_limits
from .wire import parse_datetime_us


def add_posthog_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``--posthog-*`` flags."""
    group = parser.add_argument_group("PostHog LLM analytics")
    group.add_argument(
        "--posthog-project-id", type=int, default=1, help="project/environment id (default 1)"
    )
    group.add_argument(
        "--posthog-api-key", default=None, help="required personal API key (default: any)"
    )
    group.add_argument(
        "--posthog-scopes",
        default="*",
        metavar="SCOPES",
        help="comma-separated key scopes, e.g. 'dataset:read,query:read' (default '*'; "
        "'legacy' = a key without scopes)",
    )
    group.add_argument("--posthog-datasets", type=int, default=3, help="datasets (default 3)")
    group.add_argument(
        "--posthog-items-per-dataset",
        default="10-40",
        metavar="N|LOW-HIGH",
        help="items per dataset (default 10-40)",
    )
    group.add_argument("--posthog-evaluations", type=int, default=4, help="evaluations (default 4)")
    group.add_argument(
        "--posthog-evaluation-events",
        type=int,
        default=300,
        help="$ai_evaluation events (default 300)",
    )
    group.add_argument(
        "--posthog-event-days", type=int, default=14, help="days the events span (default 14)"
    )
    group.add_argument(
        "--posthog-now", default=None, metavar="ISO", help="generation anchor (default: this hour)"
    )
    group.add_argument(
        "--posthog-rate-limit",
        default=None,
        metavar="N/S[,N/S]",
        help="per-key REST throttle, documented: 480/60,4800/3600 (default off)",
    )
    group.add_argument(
        "--posthog-query-rate-limit",
        default=None,
        metavar="N/S[,N/S]",
        help="Query API throttle, documented: 240/60,2400/3600 (default off)",
    )
    group.add_argument(
        "--posthog-query-concurrency",
        type=int,
        default=None,
        help="queries running at once, documented: 3 (default unlimited)",
    )


def _items(text: str) -> int | tuple[int, int]:
    low, sep, high = text.partition("-")
    try:
        value: int | tuple[int, int] = (int(low), int(high)) if sep else int(low)
    except ValueError:
        value = -1
    bounds = value if isinstance(value, tuple) else (value, value)
    if bounds[0] < 0 or bounds[1] < bounds[0]:
        raise ValueError(f"--posthog-items-per-dataset {text!r} must be N or LOW-HIGH (>= 0)")
    return value


def posthog_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """``Emulator(...)`` keyword arguments from the parsed flags.

    Raises:
        ValueError: a flag value that cannot be used (the message names the flag).
    """
    scopes: tuple[str, ...] | None = tuple(
        s.strip() for s in args.posthog_scopes.split(",") if s.strip()
    )
    if args.posthog_scopes.strip() == "legacy":
        scopes = None
    if args.posthog_now is not None:
        try:
            parse_datetime_us(args.posthog_now)
        except ValueError:
            raise ValueError(
                f"--posthog-now {args.posthog_now!r} is not an ISO-8601 time"
            ) from None
    sizes = ("posthog_datasets", "posthog_evaluations", "posthog_evaluation_events")
    for flag in (*sizes, "posthog_event_days"):
        if getattr(args, flag) < 0:
            raise ValueError(f"--{flag.replace('_', '-')} must be >= 0")
    for flag in ("posthog_rate_limit", "posthog_query_rate_limit"):
        try:
            parse_limits(getattr(args, flag))
        except ValueError as exc:
            raise ValueError(f"--{flag.replace('_', '-')}: {exc}") from None
    return {
        "posthog_project_id": args.posthog_project_id,
        "posthog_api_key": args.posthog_api_key,
        "posthog_scopes": scopes,
        "posthog_datasets": args.posthog_datasets,
        "posthog_items_per_dataset": _items(args.posthog_items_per_dataset),
        "posthog_evaluations": args.posthog_evaluations,
        "posthog_evaluation_events": args.posthog_evaluation_events,
        "posthog_event_days": args.posthog_event_days,
        "posthog_now": args.posthog_now,
        "posthog_rate_limit": args.posthog_rate_limit,
        "posthog_query_rate_limit": args.posthog_query_rate_limit,
        "posthog_query_concurrency": args.posthog_query_concurrency,
    }
