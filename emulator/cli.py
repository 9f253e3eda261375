"""Command line: ``python -m emulator --port P [--runs N] ...``; ``labsync emulate`` reuses it."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
import time
from types import FrameType

from .core import Emulator
from .faults import parse_fault_spec
from .llm_obs.cli_args import add_llm_obs_arguments, llm_obs_kwargs
from .posthog.cli_args import add_posthog_arguments, posthog_kwargs
from .ratelimit import parse_rate_limit

logger = logging.getLogger("emulator")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed so wrappers can reuse the flags)."""
    parser = argparse.ArgumentParser(
        prog="python -m emulator",
        description="Serve emulated Datadog Model Lab, Datadog LLM Observability and PostHog LLM "
        "analytics APIs on one loopback port. Point labsync at it with "
        "SOURCES__DATADOG__BASE_URL and SOURCES__POSTHOG__BASE_URL=http://HOST:PORT (any Datadog "
        "keys unless --api-key/--app-key, any PostHog key unless --posthog-api-key, and "
        "SOURCES__POSTHOG__PROJECT_ID=1 unless --posthog-project-id).",
    )
    parser.add_argument("--port", type=int, default=8000, help="TCP port (0 = any free port)")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--runs", type=int, default=300, help="generated runs (default 300)")
    parser.add_argument("--projects", type=int, default=4, help="generated projects (default 4)")
    parser.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    parser.add_argument(
        "--faults",
        default=None,
        help="random fault spec, e.g. '429=0.05,5xx=0.05,slow=0.02,truncate=0.02,drop=0.02,seed=7'",
    )
    parser.add_argument(
        "--rate-limit", default=None, metavar="N/SECONDS", help="e.g. 100/10 (fixed window)"
    )
    parser.add_argument("--api-key", default=None, help="required DD-API-KEY value")
    parser.add_argument("--app-key", default=None, help="required DD-APPLICATION-KEY value")
    add_llm_obs_arguments(parser)
    add_posthog_arguments(parser)
    parser.add_argument(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"]
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the emulator until SIGINT/SIGTERM. Returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=getattr(logging, args.log_level),
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
    else:
        logging.getLogger("emulator").setLevel(getattr(logging, args.log_level))
    try:
        if args.faults:
            parse_fault_spec(args.faults)
        rate_limit = parse_rate_limit(args.rate_limit)
        posthog = posthog_kwargs(args)
        llm_obs = llm_obs_kwargs(args)
    except ValueError as exc:
        parser.error(str(exc))
    started = time.perf_counter()
    emulator = Emulator(
        seed=args.seed,
        projects=args.projects,
        runs=args.runs,
        faults=args.faults,
        rate_limit=rate_limit,
        api_key=args.api_key,
        app_key=args.app_key,
        port=args.port,
        host=args.host,
        **posthog,
        **llm_obs,
    )
    logger.info(
        "generated %d projects and %d runs (seed %d) in %.2f s",
        args.projects,
        args.runs,
        args.seed,
        time.perf_counter() - started,
    )
    stop = threading.Event()

    def _on_signal(signum: int, _frame: FrameType | None) -> None:
        logger.info("received signal %d, stopping", signum)
        stop.set()

    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, _on_signal)
    try:
        emulator.start()
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
