"""Found by a review: the stale-quote case of `test_stale_carried_position` after a reset the
service MISSED (stopped across it; or applied by a change through the database and redone at
the start): a missed reset carried the account as a whole (`Book.carried` empty), so
`RuleContext.stale_value` left out the carried position's whole loss since its entry while
the carry of it stayed taken off: the carried loss was room again, and the $1,000 limit fired
at -$1,600. The missed reset's part of each contract is now kept (`Book.missed_carried`), and
stored with the book.

Long 3 MNQ @21,000 when the service stops Monday 09:00 CST; the gateway's price at Monday's
17:00 reset 20,900 (-$600 carried). The service starts Tuesday 08:05; MNQ still 20,900 and
quiet since (no fresh quote: stale). The trader buys 1 MES @6,000; MES falls to 5,800:
-$1,000 today on a $1,000 limit, all of it MES's."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from fsm_risk import bootstrap
from fsm_risk.adapters.store import StoredAccount, restore_all
from fsm_risk.cli import _transition_offline
from fsm_risk.core.engine import RiskEngine
from fsm_risk.core.events import Side
from fsm_risk.core.states import State
from fsm_risk.core.timers import missed_resets
from tests.factories import ACC, MES, MNQ, Driver, account, fill, position, quote, start_up_read
from tests.unit.test_offline_change_after_missed_reset import (
    MON_RESET,
    MON_STOP,
    TUE_ADMIN,
    TUE_START,
    _seed,
)

D = Decimal


def _start(settings: Any, store: Any, at_reset: Decimal, now: Any = TUE_START) -> RiskEngine:
    """`Service.start` with the store: the accounts held back valued at ``at_reset``."""
    engine = bootstrap.build_engine(settings, marks=store.marks())
    later: list[StoredAccount] = []
    restore_all(store, engine, now, later=later)
    wanted = {p for s in later for p in missed_resets(engine.calendar, s.snapshot, now)}
    prices: dict[Any, dict[str, Decimal]] = {}
    for at, cid in wanted:
        prices.setdefault(at, {})[cid] = at_reset
    restore_all(store, engine, now, stored=later, at_reset=prices)
    return engine


def _started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, offline_admin: bool, at_reset: str
) -> tuple[Any, Any, Driver]:
    settings, store = _seed(tmp_path)
    if offline_admin:  # the reset applied through the database, unpriced, redone at the start
        monkeypatch.setattr("fsm_risk.cli._now", lambda: TUE_ADMIN)
        _transition_offline(
            settings, store, str(ACC), MES, State.LockedDaily, "desk", None, "admin:ana", True
        )
    d = Driver(_start(settings, store, D(at_reset)), now=TUE_START)
    start_up_read(d, account("50000"), position(MNQ, 3, "21000", at=MON_STOP))
    assert d.acct.day.start == MON_RESET
    return settings, store, d


def _lose_on_mes(d: Driver, *, to: str) -> None:
    d.now += timedelta(minutes=1)  # MNQ quiet since the start: stale
    d.send(
        fill(MES, Side.BUY, 1, "6000", order_id=9, at=d.now),
        position(MES, 1, "6000", at=d.now),
        quote(MES, to, at=d.now),
    )


@pytest.mark.parametrize("offline_admin", [False, True])
def test_a_stale_loss_carried_by_a_missed_reset_is_no_room(
    tmp_path: Path, offline_admin: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, _, d = _started(tmp_path, monkeypatch, offline_admin, "20900")
    acct = d.acct
    assert acct.day.carry == -600
    assert acct.day_pnl(with_unrealized=True) == 0  # MNQ at 20,900, as at the reset
    _lose_on_mes(d, to="5805")  # -$975 today
    assert acct.day_pnl(with_unrealized=True) == -975
    assert acct.state is State.Trading
    d.send(quote(MES, "5800", at=d.now))  # -$1,000 today, all of it MES's
    assert acct.day_pnl(with_unrealized=True) == -1000
    assert acct.state is not State.Trading, "the missed reset's carried -$600 counted as room"
    assert acct.day.missed_carried == {MNQ: (D(-600), 3)}


def test_a_missed_resets_part_of_each_contract_survives_a_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stored with the day as its carry is: a restart later that day (no reset missed any
    more, the trades read) still takes the carried -$600 off the quiet MNQ (quoted once at
    the start, at 20,900: the mark the restart values it at)."""
    settings, store, d = _started(tmp_path, monkeypatch, False, "20900")
    assert d.acct.missed is None  # the start-up read listed the trades: nothing to redo
    d.send(quote(MNQ, "20900", at=d.now))
    store.commit(d.engine.take_changes(), [])
    store.save_marks(d.engine.marks)  # (as `Service` stops)
    later = TUE_START + timedelta(minutes=30)
    [stored] = store.accounts()
    d = Driver(_start(settings, store, D("1"), now=later), now=later)
    start_up_read(d, account("50000"), position(MNQ, 3, "21000", at=MON_STOP))
    acct = d.acct
    assert acct.day.carry == -600
    assert acct.day_pnl(with_unrealized=True) == 0
    _lose_on_mes(d, to="5805")
    assert acct.state is State.Trading
    d.send(quote(MES, "5800", at=d.now))
    assert acct.day_pnl(with_unrealized=True) == -1000
    assert acct.state is not State.Trading, "the restart lost the missed reset's carried -$600"
    assert stored.snapshot["day"]["missed_carried"] == {MNQ: ["-600", 3]}
    assert acct.day.missed_carried == {MNQ: (D(-600), 3)}


@pytest.mark.parametrize("offline_admin", [False, True])
def test_a_stale_gain_carried_by_a_missed_reset_never_fires_later(
    tmp_path: Path, offline_admin: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Strict only (a guard, as before the fix): MNQ carried at +$600 (21,100 at the reset),
    then quoted at 21,050 (-$300 since the reset) and quiet. Taken off exactly, the carried
    gain would leave MNQ's -$300 out and the limit fire at -$1,300; it fires at -$1,000."""
    _, _, d = _started(tmp_path, monkeypatch, offline_admin, "21100")
    acct = d.acct
    assert acct.day.carry == 600
    d.send(quote(MNQ, "21050", at=d.now))
    assert acct.day_pnl(with_unrealized=True) == -300
    _lose_on_mes(d, to="5865")  # -$675 on MES: -$975 today
    assert acct.day_pnl(with_unrealized=True) == -975
    assert acct.state is State.Trading
    d.send(quote(MES, "5860", at=d.now))  # -$1,000 today
    assert acct.state is not State.Trading, "a carried gain of a missed reset read as room"
    assert acct.day.missed_carried == {MNQ: (D(600), 3)}


def test_a_missed_resets_part_of_a_contract_the_new_day_cut_early_is_what_was_held() -> None:
    """Our clock 2 min behind the gateway's (`early`): long 4 MNQ @21,000, 1 sold at 21,100 at
    17:00:30 gateway time, the service stopped before our clock's reset and started after it,
    the gateway's price at the reset 20,900. The 4 held at the reset carried -$800: the kept
    part of MNQ is the carry's (not the long 3's -$600), and the quiet long 3 is no room."""
    from fsm_risk.rules.daily_loss_limit import DailyLossLimit
    from tests.factories import restart, rule_driver, rule_engine

    reset = MON_RESET
    d = rule_driver(DailyLossLimit, now=reset - timedelta(hours=1), limit="1000")
    d.send(
        fill(MNQ, Side.BUY, 4, "21000", order_id=1, at=d.now),
        position(MNQ, 4, "21000", at=d.now),
        quote(MNQ, "21000", at=d.now),
    )
    stamp = reset + timedelta(seconds=30)
    d.now = stamp - timedelta(minutes=2)
    d.send(
        fill(MNQ, Side.SELL, 1, "21100", pnl="200", order_id=2, at=stamp),
        position(MNQ, 3, "21000", at=reset - timedelta(hours=1)),
    )
    rebuild = lambda: rule_engine(DailyLossLimit, limit="1000")  # noqa: E731
    d = restart(d, rebuild, at=reset + timedelta(minutes=5), at_reset={reset: {MNQ: D("20900")}})
    start_up_read(d, account("50200"), position(MNQ, 3, "21000", at=reset - timedelta(hours=1)))
    acct = d.acct
    assert (acct.day.start, acct.day.carry, acct.day.realized) == (reset, -800, 200)
    assert acct.day_pnl(with_unrealized=True) == 400  # the sale's 200 points over the reset
    _lose_on_mes(d, to="5720")  # -$1,400 on MES: -$1,000 today
    assert acct.day_pnl(with_unrealized=True) == -1000
    assert acct.state is not State.Trading, "the missed reset's carried -$600 counted as room"
    assert acct.day.missed_carried == {MNQ: (D(-800), 4)}  # (its sum is the carry)
