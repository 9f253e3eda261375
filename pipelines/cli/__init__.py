"""labsync's command line, kept thin: `main` parses (parser.py), sets up the logs (console.py),
runs one command (writes.py: sync, models, demo; reads.py: status, search, compare, report)
and turns an error into its exit code and one line (exits.py). The pipelines themselves are
built in runner.py; the warehouse lock and publish are warehouse.py's.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from contextlib import ExitStack

from ..common import progress
from ..common.errors import LabsyncError
from .console import JsonFormatter, setup_logging
from .exits import EXIT_BUSY, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, failure
from .parser import build_parser
from .reads import cmd_compare, cmd_report, cmd_search, cmd_status
from .writes import cmd_demo, cmd_models, cmd_sync

__all__ = [
    "COMMANDS",
    "EXIT_BUSY",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "JsonFormatter",
    "build_parser",
    "main",
]

logger = logging.getLogger("labsync")

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "sync": cmd_sync,
    "models": cmd_models,
    "status": cmd_status,
    "search": cmd_search,
    "compare": cmd_compare,
    "report": cmd_report,
    "demo": cmd_demo,
}


def cmd_emulate(args: argparse.Namespace, extra: list[str]) -> int:
    from emulator.cli import main as emulator_main

    return emulator_main(extra)


def main(argv: Sequence[str] | None = None) -> int:
    args, extra = build_parser().parse_known_args(argv)
    if extra and args.command != "emulate":
        build_parser().error(f"unrecognized arguments: {' '.join(extra)}")
    setup_logging(args.log_level, args.log_format)
    try:
        if args.command == "emulate":
            return cmd_emulate(args, extra)
        with ExitStack() as stack:
            if args.command in ("sync", "demo") and args.log_format == "text":
                stack.enter_context(progress.live(sys.stderr))
            return COMMANDS[args.command](args)
    except (Exception, KeyboardInterrupt) as exc:
        code, message = failure(exc)
        # the traceback only when asked for: --log-level DEBUG
        debug = logger.isEnabledFor(logging.DEBUG)
        level = logging.WARNING if code == EXIT_BUSY else logging.ERROR
        logger.log(level, "%s", message, exc_info=exc if debug else None)
        if code == EXIT_FAILED and not isinstance(exc, LabsyncError) and not debug:
            logger.error("run with --log-level DEBUG for the traceback")
        return code
