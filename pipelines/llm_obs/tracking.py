"""What the LLM Obs source remembers between syncs, in dlt resource state.

The API offers no sort and no `updated_after` filter, so lists are compared with what the
last sync saw: a short fingerprint per id says what changed, the ids that are gone from a
complete listing vanished. The state is committed by dlt together with the loaded rows, so
a failed sync leaves it as it was.
"""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping
from typing import Any

State = MutableMapping[str, Any]


class EntityTracker:
    """Fingerprints of an entity that is listed completely each sync (projects, datasets,
    annotation queues): which rows changed, which ids vanished, which came back."""

    def __init__(self, state: State, *, full_refresh: bool) -> None:
        self._state = state
        self._old: dict[str, str] = dict(state.get("fingerprints") or {})
        self._flagged: set[str] = set(state.get("vanished") or [])
        self._full_refresh = full_refresh
        self.listed: dict[str, str] = {}

    @property
    def first_sync(self) -> bool:
        return "fingerprints" not in self._state

    def changed(self, row_id: str, fingerprint: str) -> bool:
        """Record a listed row; True when it is new or its content changed (or full refresh).

        A row listed twice in one sync (it slid across a page boundary) counts once.
        """
        if row_id in self.listed:
            return False
        self.listed[row_id] = fingerprint
        return self._full_refresh or self._old.get(row_id) != fingerprint or row_id in self._flagged

    def finish(self) -> tuple[set[str], set[str]]:
        """(vanished ids, ids that came back) after a complete listing; updates the state."""
        vanished = set(self._old) - set(self.listed)
        reappeared = self._flagged & set(self.listed)
        self._state["fingerprints"] = dict(self.listed)
        self._state["vanished"] = sorted((self._flagged - reappeared) | vanished)
        return vanished, reappeared


class Fingerprints:
    """A fingerprint per parent of something re-read each sync (a dataset's versions or draft
    state, a queue's interactions): only parents whose answer changed are loaded."""

    def __init__(self, state: State, key: str, *, full_refresh: bool) -> None:
        self._saved: dict[str, str] = state.setdefault(key, {})
        self._full_refresh = full_refresh

    def changed(self, parent_id: str, fingerprint: str) -> bool:
        return self._full_refresh or self._saved.get(parent_id) != fingerprint

    def remember(self, parent_id: str, fingerprint: str) -> None:
        self._saved[parent_id] = fingerprint

    def keep_only(self, parent_ids: Iterable[str]) -> None:
        """Forget parents that are gone, so the state does not grow without bound."""
        alive = set(parent_ids)
        for parent_id in [p for p in self._saved if p not in alive]:
            del self._saved[parent_id]
