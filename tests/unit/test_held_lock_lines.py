"""Found by a review of 92df27e: while a brief SQLite write lock is held (no alert yet), every
batch the consumer commits without trying (`attempt=False`) logs a WARNING 'tried again', and
status says saved while a person's answer says NOT SAVED."""

from __future__ import annotations

import types
from datetime import UTC, datetime

from loguru import logger

from fsm_risk.adapters.store import StorageFailed
from fsm_risk.service import Service


def test_a_brief_held_lock_logs_one_warning_not_one_per_batch() -> None:
    stub = types.SimpleNamespace(
        held_since=None,
        unsaved_since=None,
        clock=types.SimpleNamespace(now=lambda: datetime(2026, 12, 7, 15, tzinfo=UTC)),
        _storage_alert=lambda *a: None,
    )
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m)), level="WARNING")
    try:
        Service._not_saved(stub, StorageFailed("db", "database is locked", gave_way=True))  # type: ignore[arg-type]
        for _ in range(200):  # the consumer's batches meanwhile: joined, not tried
            Service._not_saved(stub, StorageFailed("db", "database is locked"))  # type: ignore[arg-type]
    finally:
        logger.remove(sink)
    tried = [m for m in lines if "tried again" in m]
    assert stub.unsaved_since is None  # (status/readyz: saved)
    assert len(tried) <= 2, f"{len(tried)} 'tried again' warnings for one held lock"
