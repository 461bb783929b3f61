"""The journal's buffering (one commit per burst, state-neutral rows at most a second late)
and retention, against a real store (SQLite, and a PostgreSQL server)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from fsm_risk.adapters.journal import Journal
from fsm_risk.adapters.store import Store, journal_instant
from fsm_risk.core.engine import Changes
from fsm_risk.core.events import Quote, Tick
from fsm_risk.replay_sources import journal_entries
from tests.factories import ACC, ES, MNQ, T0, account, position
from tests.postgres import BACKENDS, sqlite_or_postgresql


def test_rows_wait_for_a_commit_of_state_or_at_most_a_second() -> None:
    j = Journal()
    j.record(Quote(MNQ, T0, Decimal("1")), T0)
    assert j.take(T0 + timedelta(milliseconds=500), force=False) == []
    assert len(j.take(T0 + timedelta(seconds=1), force=False)) == 1
    j.record(Quote(MNQ, T0, Decimal("2")), T0)
    assert len(j.take(T0, force=True)) == 1  # with the state it may have changed
    assert Journal(enabled=False).take(T0, force=True) == []


@pytest.fixture(params=BACKENDS)
def where(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str | Path]:
    """A SQLite file, or a fresh database on a PostgreSQL server."""
    yield from sqlite_or_postgresql(request, tmp_path / "s.db")


def test_journal_round_trips_through_the_store_and_expired_rows_are_deleted(
    where: str | Path,
) -> None:
    store = Store(where)
    j = Journal(retention_days=2)
    j.start(ACC, "PRAC", T0)
    j.record(account(), T0)
    j.record(position(MNQ, 1, "20000"), T0)
    j.record(Tick(), T0 + timedelta(days=1))
    j.record(Quote(ES, T0, Decimal("6000")), T0 + timedelta(days=3))  # not this account's
    j.record(Quote(MNQ, T0, Decimal("20000.25")), T0 + timedelta(days=3))
    store.commit(Changes([], []), journal=j.take(None, force=True))
    entries = journal_entries(store, ACC)
    assert [(e.at, e.event) for e in entries] == [
        (T0, None),
        (T0, account()),
        (T0, position(MNQ, 1, "20000")),
        (T0 + timedelta(days=1), Tick()),
        (T0 + timedelta(days=3), Quote(MNQ, T0, Decimal("20000.25"))),
    ]
    assert store.journal_accounts() == [(ACC, "PRAC")]
    assert store.journal_contracts(ACC) == {MNQ}
    assert len(journal_entries(store, ACC, since=T0 + timedelta(hours=1))) == 2
    assert len(journal_entries(store)) == 6  # every row, without an account
    now = T0 + timedelta(days=3)
    cutoff = j.prune_before(now)
    assert cutoff == T0 + timedelta(days=1)
    assert j.prune_before(now + timedelta(minutes=5)) is None  # at most once an hour
    store.commit(Changes([], []), journal_before=cutoff)
    assert store.wait_for_prune(10)  # (on a server, on a thread of the store's)
    assert [e.at for e in journal_entries(store)] == [T0 + timedelta(days=1), now, now]
    store.close()


def test_journal_rows_are_never_changed(where: str | Path) -> None:
    store = Store(where)
    j = Journal()
    j.record(account(), T0)
    store.commit(Changes([], []), journal=j.take(None, force=True))
    with pytest.raises(DBAPIError, match="append-only"), store.engine.begin() as conn:
        conn.execute(text("UPDATE journal SET data = '[]'"))
    assert [e.event for e in journal_entries(store)] == [account()]
    store.close()


@pytest.mark.parametrize(
    "at",
    [
        datetime(2026, 3, 8, 7, 59, 59, 999999, tzinfo=UTC),  # the spring-forward instant's edge
        datetime(2026, 11, 1, 1, 30, tzinfo=ZoneInfo("America/Chicago")),  # the hour that repeats
        datetime(2026, 11, 1, 1, 30, fold=1, tzinfo=ZoneInfo("America/Chicago")),
        datetime(2026, 6, 1, 17, 0, 0, 5, tzinfo=timezone(timedelta(hours=-5))),
        datetime(2026, 1, 1, tzinfo=UTC),  # no fraction: still six digits
    ],
)
def test_a_journal_instant_is_utc_and_fixed_width(at: datetime) -> None:
    text = journal_instant(at)
    assert text == at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
    assert len(text) == len("2026-01-01T00:00:00.000000+00:00")
    assert datetime.fromisoformat(text).timestamp() == at.timestamp()
