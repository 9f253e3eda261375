"""Datadog LLM Observability API emulation: data generator/store, HTTP handlers, control routes."""

from __future__ import annotations

from .data import LLMObsStore
from .generator import LLMObsSizes

__all__ = ["LLMObsSizes", "LLMObsStore"]
