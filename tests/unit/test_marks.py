"""Marks: a stale one never values a new position, a poisoned one never freezes the price,
and quotes for contracts nobody holds cost nothing."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

from fsm_risk.core.effects import WatchContract
from fsm_risk.core.events import Side
from fsm_risk.core.states import State
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from tests.factories import (
    ES,
    MNQ,
    T0,
    Driver,
    account,
    fill,
    flat,
    make_engine,
    position,
    quote,
    restart,
    settled_read,
)


def test_a_new_position_waits_for_a_fresh_quote_instead_of_the_mark_left_when_flat() -> None:
    d = Driver(make_engine({DailyLossLimit: {"limit": "1000"}}))
    d.send(account(), position(MNQ, 1, "21000"), quote(MNQ, "20800"))
    assert d.acct.open_upnl == Decimal("-400")
    assert WatchContract(MNQ, False) in d.send(flat(MNQ))
    assert MNQ not in d.engine.marks  # unwatched: its price moves unseen from now on
    d.now += timedelta(minutes=5)
    # the price recovered meanwhile
    out = d.send(fill(MNQ, Side.BUY, 3, "21500", at=d.now), position(MNQ, 3, "21500", at=d.now))
    assert WatchContract(MNQ, True) in out
    assert d.acct.open_upnl == 0 and d.acct.state is State.Trading  # not valued at 20800
    d.send(quote(MNQ, "21490", at=d.now))
    assert d.acct.open_upnl == Decimal("-60")
    assert d.acct.state is State.Trading


def test_quotes_for_contracts_nobody_holds_leave_nothing() -> None:
    d = Driver(make_engine())
    d.send(account())
    for i in range(100):
        d.send(quote(f"CON.F.US.X{i}.Z26", "1"), quote(ES, "6000"))
    assert d.engine.marks == {}


def test_a_mark_stamped_in_the_future_does_not_freeze_the_price() -> None:
    d = Driver(make_engine({DailyLossLimit: {"limit": "1000"}}))
    d.send(account(), position(MNQ, 2, "21000"), quote(MNQ, "21000"))
    d.send(quote(MNQ, "21000", at=T0 + timedelta(days=365 * 70)))  # stamped in 2096
    d.send(quote(MNQ, "20000", at=T0 + timedelta(seconds=1)))  # a real -$4,000 move
    assert d.engine.marks[MNQ].last == Decimal("20000")
    assert d.acct.state is not State.Trading  # enforced


def test_a_restored_position_is_valued_at_a_mark_stored_long_ago_only_as_stale() -> None:
    # valued at the last price known (what status shows, marked stale), but the mark is not
    # live: a rule that needs marks never fires on it (-$1,200 against a $1,000 limit)
    d = Driver(make_engine({DailyLossLimit: {"limit": "1000"}}))
    d.send(account(), position(MNQ, 3, "21000"), quote(MNQ, "20900"))
    assert d.acct.open_upnl == Decimal("-600")
    d.send(quote(MNQ, "20800"))
    assert d.acct.state is State.Flattening  # -$1,200 at a fresh quote: fires
    d = Driver(make_engine({DailyLossLimit: {"limit": "1000"}}))
    d.send(account(), position(MNQ, 2, "21000"), quote(MNQ, "20800"))
    assert d.acct.open_upnl == Decimal("-800")
    d.engine.marks[MNQ] = replace(d.engine.marks[MNQ], last=Decimal("20700"))  # -$1,200 stored
    later = restart(
        d, lambda: make_engine({DailyLossLimit: {"limit": "1000"}}), at=d.now + timedelta(hours=2)
    )
    assert MNQ not in later.engine.marks and later.acct.open_upnl == Decimal("-1200")
    settled_read(later)  # (its stored books confirmed: the rule judges them)
    assert later.acct.state is State.Trading  # a stale loss: waits for a fresh quote
    later.send(quote(MNQ, "20700", at=later.now))
    assert later.acct.state is State.Flattening
    soon = restart(
        d, lambda: make_engine({DailyLossLimit: {"limit": "1000"}}), at=d.now + timedelta(seconds=5)
    )
    assert soon.acct.open_upnl == Decimal("-1200") and MNQ in soon.engine.marks  # fresh
