"""A commit whose COMMIT the server never answered (the connection lost on the way: the 1 s
tcp_user_timeout, a network cut) is in doubt: the server may have written it. The next commit
finds out from the store's ``unit_of_work`` row, written in the same transaction, and writes
what the server does not hold yet, never twice: the audit, round trips and journal (plain
inserts) once each, whether the server had committed it, had not, or still held it open."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import make_url

from fsm_risk.adapters.store import StorageFailed, Store, restore_all
from fsm_risk.core.effects import RecordTransition
from fsm_risk.core.events import Side
from fsm_risk.core.states import State
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from fsm_risk.rules.max_trades_per_day import MaxTradesPerDay
from tests.factories import ES, MNQ, T0, Driver, account, fill, make_engine, position
from tests.postgres import fresh_database

#: what each commit writes, counted on the server
TABLES = ("audit", "round_trip", "journal", "fill")


class CommitCut:
    """A relay to the server that, once armed, cuts the connection carrying the next COMMIT:
    ``after`` the server answered it (committed; the answer is lost), ``before`` it reaches the
    server (never committed), or ``held``: never sent, the client's side cut, the server's
    kept open (its transaction open, its locks held) until `let_go`."""

    def __init__(self, url: str) -> None:
        target = make_url(url)
        self.target = (target.host or "127.0.0.1", int(target.port or 5432))
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = target.set(
            host="127.0.0.1", port=self.listener.getsockname()[1]
        ).render_as_string(hide_password=False)
        self.mode: str | None = None
        self.cut = threading.Event()
        self._held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            sent = threading.Event()  # the armed COMMIT went to the server
            threading.Thread(target=self._up, args=(client, upstream, sent), daemon=True).start()
            threading.Thread(target=self._down, args=(upstream, client, sent), daemon=True).start()

    def _up(self, client: socket.socket, upstream: socket.socket, sent: threading.Event) -> None:
        try:
            while data := client.recv(65536):
                mode = self.mode
                if mode is not None and b"COMMIT\x00" in data:
                    if mode == "after":
                        sent.set()
                    else:
                        if mode == "held":
                            self._held.append(upstream)
                        self._cut(client, None if mode == "held" else upstream)
                        return
                upstream.sendall(data)
        except OSError:
            pass

    def _down(self, upstream: socket.socket, client: socket.socket, sent: threading.Event) -> None:
        try:
            while data := upstream.recv(65536):
                if sent.is_set() and self.mode == "after":  # the server answered the COMMIT
                    self._cut(client, upstream)
                    return
                client.sendall(data)
        except OSError:
            pass

    def _cut(self, *socks: socket.socket | None) -> None:
        self.mode = None
        self.cut.set()
        for s in socks:
            if s is not None:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def let_go(self) -> None:
        """The held server side closed: the server ends the transaction it kept open."""
        for s in self._held:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.let_go()
        self.listener.close()


@pytest.fixture
def url() -> Iterator[str]:
    with fresh_database() as found:
        yield found


def counts(url: str) -> dict[str, int]:
    libpq = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(libpq) as conn:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}


#: every audit entry the tests' engines made, by driver (what the audit table must hold once)
MADE: dict[int, list[Any]] = {}


def unit(d: Driver, *events: Any) -> tuple[Any, list[Any]]:
    out = d.send(*events)
    entries = [e.entry for e in out if isinstance(e, RecordTransition)]
    MADE.setdefault(id(d), []).extend(entries)
    return d.engine.take_changes(), entries


def journaled(n: int) -> list[dict[str, Any]]:
    return [{"at": f"2026-12-04T15:00:0{n}+00:00", "account_id": 1001, "kind": "X", "data": str(n)}]


def written_again(store: Store, d: Driver, *events: Any, journal: Any = ()) -> int:
    """Commit until the store holds nothing in doubt or waiting (its connection is made again
    on a thread of its own, within a second or two); the tries it took."""
    deadline = time.monotonic() + 15
    tries = 0
    while time.monotonic() < deadline:
        tries += 1
        with contextlib.suppress(StorageFailed):
            store.commit(*unit(d, *events), journal=journal)
        events, journal = (), ()
        if store.pending is None:
            return tries
        time.sleep(0.2)  # (the reconnection's own pace: once a second)
    raise AssertionError(f"still waiting after {tries} tries: {store.pending}")


def a_closed_loss(d: Driver) -> tuple[Any, list[Any]]:
    return unit(d, fill(ES, Side.SELL, 1, "5920", pnl="-1000", fees="2.50"), position(ES, 0, "0"))


@pytest.mark.parametrize("mode", ["after", "before"])
def test_a_commit_unanswered_is_written_once_whatever_the_server_did_with_it(
    url: str, mode: str
) -> None:
    relay = CommitCut(url)
    store = Store(relay.url)
    d = Driver(make_engine({DailyLossLimit: {"limit": "1000"}}))
    store.commit(*unit(d, account(), fill(ES, Side.BUY, 1, "6000", fees="2.50")))
    start = counts(url)
    assert start["audit"] == len(MADE[id(d)])
    relay.mode = mode
    with pytest.raises(StorageFailed):
        store.commit(*a_closed_loss(d), journal=journaled(1))
    assert relay.cut.is_set() and d.acct.state is State.LockedDaily
    assert store.pending is not None and store.pending.doubt is not None
    cut = counts(url)
    if mode == "after":  # the server holds it
        assert cut == {"audit": start["audit"] + 2, "round_trip": 1, "journal": 1, "fill": 2}
    else:
        assert cut == start
    # another unit joins what waits; then everything is written, each row once
    written_again(store, d, position(MNQ, 1, "21000"), journal=journaled(2))
    store.close()
    relay.close()
    end = counts(url)
    assert end["round_trip"] == 1 and end["fill"] == 2 and end["journal"] == 2
    assert end["audit"] == len(MADE[id(d)])  # each entry once
    stored = Store(url)
    assert [e.to_state for e in stored.audit(1001)].count(State.LockedDaily) == 1
    assert stored.account(1001) is not None
    positions = {p["contract_id"]: p["size"] for p in stored.account(1001).snapshot["positions"]}
    assert positions.get(MNQ) == 1  # what joined it is written too
    stored.close()


def test_a_commit_the_server_still_holds_open_is_not_written_until_it_ends(url: str) -> None:
    """The COMMIT lost on the way while the server's session lives on (a network cut): its
    transaction holds the store's row; the next tries fail at once, writing nothing, and the
    first after the server ends it writes it all, once."""
    relay = CommitCut(url)
    store = Store(relay.url)
    d = Driver(make_engine({DailyLossLimit: {"limit": "1000"}}))
    store.commit(*unit(d, account(), fill(ES, Side.BUY, 1, "6000", fees="2.50")))
    start = counts(url)
    relay.mode = "held"
    with pytest.raises(StorageFailed):
        store.commit(*a_closed_loss(d), journal=journaled(1))
    deadline = time.monotonic() + 10
    refused = 0
    while refused < 3 and time.monotonic() < deadline:  # the connection made again, refused
        try:
            store.commit(*unit(d))
        except StorageFailed as exc:
            refused += "lock" in exc.reason
        time.sleep(0.2)
    assert refused == 3 and store.pending is not None and store.pending.doubt is not None
    assert counts(url) == start
    relay.let_go()  # the server ends the session and its transaction: never committed
    written_again(store, d)
    store.close()
    relay.close()
    end = counts(url)
    assert (end["round_trip"], end["fill"], end["journal"]) == (1, 2, 1)
    assert end["audit"] == len(MADE[id(d)]) > start["audit"]


def test_a_commit_unanswered_counts_one_trade_after_a_restart(url: str) -> None:
    """What writing it twice cost: the next start read two round trips where the trader
    made one, and RULE-007 (one trade a day, counted in round trips) locked the account."""
    rules = {MaxTradesPerDay: {"limit": "2", "count": "round_trips"}}
    relay = CommitCut(url)
    store = Store(relay.url)
    d = Driver(make_engine(rules))
    store.commit(*unit(d, account(), fill(ES, Side.BUY, 1, "6000", fees="2.50")))
    relay.mode = "after"
    with pytest.raises(StorageFailed):
        store.commit(
            *unit(d, fill(ES, Side.SELL, 1, "6010", pnl="500", fees="2.50"), position(ES, 0, "0"))
        )
    written_again(store, d)
    store.close()
    relay.close()

    again = Store(url)
    d2 = Driver(make_engine(rules), now=T0 + timedelta(minutes=5))
    effects, _ = restore_all(again, d2.engine, d2.now)
    d2.effects.extend(effects)
    d2.send(account())
    rule = next(r for r in d2.engine.rules if r.id == "RULE-007")
    assert rule.usage(d2.acct, d2.now).value == 1
    assert d2.acct.state is State.Trading
    again.close()
