"""Emulator of PostHog's LLM analytics API (datasets, dataset items, evaluations, evaluation
runs, and the Query API for ``$ai_evaluation`` events), era B of ``posthog.md``."""

from __future__ import annotations

from .data import PostHogStore

__all__ = ["PostHogStore"]
