"""Benchmarks: run with `make bench`; figures go to the README and the closing note."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def bench_parser(
    description: str | None, *, runs: int, projects: int, seed: bool = False
) -> argparse.ArgumentParser:
    """The options every benchmark takes: --runs, --projects, --json (and --seed)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--runs", type=int, default=runs)
    parser.add_argument("--projects", type=int, default=projects)
    if seed:
        parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    return parser


def parse_bench_args(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Parse the options and log progress with timestamps."""
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    return args


def write_figures(figures: Mapping[str, Any], path: Path | None) -> None:
    """The figures as JSON on stdout, and in --json's file when given."""
    text = json.dumps(figures, indent=2) + "\n"
    sys.stdout.write(text)
    if path:
        path.write_text(text)


def goal(label: str, value: float, limit: float) -> dict[str, object]:
    """A figure against its goal (value <= limit), logged as met or MISSED."""
    met = value <= limit
    logging.getLogger("labsync.bench").info(
        "goal %-52s %10.2f <= %-8g %s", label, value, limit, "met" if met else "MISSED"
    )
    return {"goal": label, "value": value, "limit": limit, "met": met}
