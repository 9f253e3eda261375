"""Loopback emulator of the vendor APIs labsync syncs from: Datadog Model Lab, Datadog LLM
Observability and PostHog LLM analytics, all on one port.

Independent of ``pipelines``: it is a separate description of the vendor API, used by tests,
benchmarks and ``labsync emulate``.
"""

from __future__ import annotations

from .core import Emulator
from .faults import FAULT_KINDS, FaultInjector
from .server import RequestRecord

__all__ = ["FAULT_KINDS", "Emulator", "FaultInjector", "RequestRecord"]
