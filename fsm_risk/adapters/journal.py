"""The service's journal of handled events: what the engine saw, and when.

Every event the engine handles is recorded with the instant it was given (the account it
concerns, its kind, the exact compact form of `fsm_risk.core.codec`), plus a ``Start`` row when
an account begins to be monitored. Rows wait here until the next commit of state and go in the
same transaction, so the journal and the state never disagree; rows of events that changed
nothing (quotes, mostly) wait at most a second, so a quote stream does not cost a commit each.
The service's other calls into the engine are rows too (a start, the accounts restored,
settings replaced, staged, applied, noted), so a journal replays exactly across restarts and
reloads.
Replaying the rows in order through a fresh engine under the same settings gives the same
transitions and effects (see `fsm_risk.replay`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from fsm_risk.adapters.store import journal_instant
from fsm_risk.core import codec
from fsm_risk.core.events import Event

#: rows of the service's own calls into the engine (no account), replayed as they were made:
#: a new engine at start-up, the stored accounts restored into it, settings in force replaced,
#: a loosening staged for a reset, staged settings applied, a settings change noted (the
#: names are the replay's own, so the two cannot drift apart)
from fsm_risk.replay import (  # noqa: F401
    APPLY_STAGED,
    NOTE,
    RESTART,
    RESTORE,
    RESUME,
    RULES,
    STAGE,
    THAW,
    THAWED,
)

START = "Start"
#: the longest rows of state-neutral events wait for a commit
FLUSH_AFTER = timedelta(seconds=1)
#: how often expired rows are deleted
PRUNE_EVERY = timedelta(hours=1)


class Journal:
    def __init__(self, enabled: bool = True, retention_days: int = 31) -> None:
        self.enabled = enabled
        self.retention = timedelta(days=retention_days)
        self.rows: list[dict[str, Any]] = []
        self._oldest: datetime | None = None
        self._pruned_at: datetime | None = None

    def record(self, event: Event, now: datetime) -> None:
        if not self.enabled:
            return
        kind, data = codec.encode(event)
        self._add(now, getattr(event, "account_id", None), kind, data)

    def start(self, account_id: int, name: str, now: datetime) -> None:
        if self.enabled:
            self._add(now, account_id, START, json.dumps([account_id, name]))

    def restart(self, now: datetime) -> None:
        """The service starts: a new engine (the stored accounts are restored into it later)."""
        self.call(now, RESTART)

    def call(self, now: datetime, kind: str, *args: Any) -> None:
        """One of the service's calls into the engine other than ``handle`` (see the kinds)."""
        if self.enabled:
            self._add(now, None, kind, json.dumps(list(args), default=_plain))

    def _add(self, now: datetime, account_id: int | None, kind: str, data: str) -> None:
        if self._oldest is None:
            self._oldest = now
        self.rows.append(
            {"at": journal_instant(now), "account_id": account_id, "kind": kind, "data": data}
        )

    def take(self, now: datetime | None, *, force: bool) -> list[dict[str, Any]]:
        """The rows to write now: all of them with a commit of state (``force``) or once the
        oldest has waited a second."""
        if not self.rows:
            return []
        if not force and (now is None or self._oldest is None or now - self._oldest < FLUSH_AFTER):
            return []
        rows, self.rows, self._oldest = self.rows, [], None
        return rows

    def prune_before(self, now: datetime | None) -> datetime | None:
        """The cut-off for expired rows, at most once an hour (None: nothing to delete)."""
        if not self.enabled or now is None:
            return None
        if self._pruned_at is not None and now - self._pruned_at < PRUNE_EVERY:
            return None
        self._pruned_at = now
        return now - self.retention


def _plain(v: Any) -> Any:
    if isinstance(v, datetime):
        return v.isoformat()
    if isinstance(v, Mapping):
        return dict(v)
    raise TypeError(f"not journaled: {type(v).__name__}")
