"""Hand memory a finished phase freed back to the system before the next one starts.

A sync's phases peak one after another: the extract's Python objects (pages, Arrow batches,
the sets of ids it saw), then DuckDB's buffers during the load, the views and audits, and the
publish. Freed Python and Arrow memory stays in the process's allocators (glibc's heap
keeps free pages, Arrow's mimalloc pool its segments), so without this each phase's peak
stacks on what the one before it left behind.
"""

from __future__ import annotations

import ctypes
import gc
import logging
import sys

logger = logging.getLogger("labsync")

_libc: ctypes.CDLL | None = None
_loaded = False


def _glibc() -> ctypes.CDLL | None:
    global _libc, _loaded
    if not _loaded:
        _loaded = True
        try:
            libc = ctypes.CDLL("libc.so.6")
            _libc = libc if hasattr(libc, "malloc_trim") else None
        except OSError:  # not glibc (macOS, musl): nothing to trim
            _libc = None
    return _libc


def release() -> None:
    """Collect garbage, then return free heap pages and Arrow's unused memory to the system."""
    gc.collect()
    arrow = sys.modules.get("pyarrow")  # only when something imported it
    if arrow is not None:
        arrow.default_memory_pool().release_unused()
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)
