"""``--llm-obs-*`` flags of the emulator command line (sizes of the generated data)."""

from __future__ import annotations

import argparse
from dataclasses import fields
from typing import Any

from .generator import LLMObsSizes

_HELP = {
    "projects": "LLM Obs projects",
    "datasets": "LLM Obs datasets per project",
    "records": "LLM Obs records per dataset",
    "experiments": "LLM Obs experiments per project",
    "spans": "LLM Obs spans per terminal experiment",
    "queues": "LLM Obs annotation queues",
    "interactions": "LLM Obs interactions per queue",
}


def add_llm_obs_arguments(parser: argparse.ArgumentParser) -> None:
    """Add one ``--llm-obs-<size>`` flag per :class:`LLMObsSizes` field."""
    defaults = LLMObsSizes()
    for field in fields(LLMObsSizes):
        default = getattr(defaults, field.name)
        parser.add_argument(
            f"--llm-obs-{field.name}",
            type=int,
            default=default,
            metavar="N",
            help=f"{_HELP[field.name]} (default {default})",
        )


def llm_obs_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """``Emulator(...)`` keyword arguments from parsed flags (ValueError naming a bad size)."""
    sizes = {field.name: getattr(args, f"llm_obs_{field.name}") for field in fields(LLMObsSizes)}
    for name, value in sizes.items():
        if value < 0:
            raise ValueError(f"--llm-obs-{name} must be >= 0")
    return {f"llm_obs_{name}": value for name, value in sizes.items()}
