"""The journal's hourly prune on a PostgreSQL server: an hour of quotes is millions of rows,
more than one statement deletes within the writer's 1 s statement timeout. The prune runs on
a thread of the store's, 10,000 rows a transaction, until every expired row is gone; the
commit that asks for it (on the service's event loop) does not wait for it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import psycopg
import pytest
from sqlalchemy.engine import make_url

from fsm_risk.adapters.store import Store
from fsm_risk.core.effects import RecordTransition
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from tests.factories import Driver, account, make_engine
from tests.postgres import fresh_database

#: expired quotes: several seconds' work for the server, far past one statement's bound
ROWS = 1_500_000
#: a commit asking for the prune returns within this (seconds): it does not run it
AT_ONCE = 0.3


@pytest.fixture
def url() -> Iterator[str]:
    with fresh_database() as found:
        yield found


def test_a_journal_too_long_to_prune_in_one_statement_is_pruned_off_the_commit(url: str) -> None:
    store = Store(url)
    d = Driver(make_engine({DailyLossLimit: {"limit": "1000"}}))
    out = d.send(account())
    store.commit(d.engine.take_changes(), [e.entry for e in out if isinstance(e, RecordTransition)])
    libpq = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(libpq) as conn:
        conn.execute(
            "INSERT INTO journal (at, account_id, kind, data) SELECT "
            "to_char(timestamptz '2026-01-01 00:00:00+00' + (g || ' ms')::interval, "
            "'YYYY-MM-DD\"T\"HH24:MI:SS.US') || '+00:00', NULL, 'quote', "
            '\'{"contract_id": "CON.F.US.MNQ.Z26", "last": "21000.25"}\' '
            "FROM generate_series(1, %s) g",
            (ROWS,),
        )
        conn.execute(  # and a row still kept
            "INSERT INTO journal (at, account_id, kind, data) "
            "VALUES ('2026-01-03T00:00:00.000000+00:00', NULL, 'quote', '{}')"
        )
    cutoff = datetime(2026, 1, 2, tzinfo=UTC)
    started = time.monotonic()
    store.commit(d.engine.take_changes(), [], journal_before=cutoff)
    took = time.monotonic() - started
    assert store.wait_for_prune(120)
    with psycopg.connect(libpq) as conn:
        left = conn.execute("SELECT count(*) FROM journal").fetchone()[0]
    store.close()
    assert left == 1, f"{left - 1} expired journal rows left"
    assert took < AT_ONCE, f"the commit waited {took:.2f} s for the prune"
