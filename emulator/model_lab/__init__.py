"""Datadog Model Lab API emulation: data generator/store, HTTP handlers and control routes."""

from __future__ import annotations

from .data import ModelLabStore

__all__ = ["ModelLabStore"]
