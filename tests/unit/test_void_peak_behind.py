"""A win booked while the account's trades are being read gives back the peak when voided.

Found by a review: RULE-004 waits for an account's trades (`Rule.waits_for_trades`), so it
observed no fill booked while the account was behind (a start-up's two-step read: the trades
since the week began booked after its positions) or waiting on a missed reset, and never
remembered the peak before such a win (``raised``). Voided later, the win gave nothing back:
drawdown 1,000, intraday, a +800 made while stopped, voided live (balance 50,000): the peak
stayed 50,800, and a real loss of 300 (equity 49,700) flattened the account and locked it
for the week. Now such fills are told to the rule (`Rule.unjudged`) and kept; the give-back
itself waits for the gateway's word as any other (`test_void_peak_word`).
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from decimal import Decimal

from fsm_risk.core.effects import ReadTrades
from fsm_risk.core.events import Fill, Listing, Side, TradesSnapshot
from fsm_risk.core.states import State
from tests.factories import (
    MNQ,
    Driver,
    account,
    fill,
    flat,
    gateway_read,
    position,
    quote,
    restart,
    start_up_read,
    trade_reads,
)
from tests.unit.test_late_fill_peak import MON_RESET
from tests.unit.test_void_peak import driver, engine, peak

D = Decimal


def long_2(d: Driver) -> Fill:
    d.send(quote(MNQ, "21000", at=d.now))
    buy = fill(MNQ, Side.BUY, 2, "21000", order_id=1, at=d.now)
    d.send(buy, position(MNQ, 2, "21000"))
    return buy


def voided_then_a_real_300_loss(d: Driver, sell: Fill) -> None:
    """A minute on, the firm voids the sell (balance 50,000), the read asked for says flat;
    then long 2 at 21,000 marked at 20,925: equity 49,700, 300 under the true peak."""
    d.advance(minutes=1)
    asked = trade_reads(d.send(dataclasses.replace(sell, voided=True), account("50000")))
    assert asked == [ReadTrades(d.acc)], "the void asked for no read"
    d.advance(seconds=1)
    gateway_read(d, account("50000"))
    assert peak(d) == D("50000") and d.acct.equity == D("50000")
    d.send(quote(MNQ, "21000", at=d.now))
    d.send(fill(MNQ, Side.BUY, 2, "21000", order_id=3, at=d.now), position(MNQ, 2, "21000"))
    d.now += timedelta(seconds=1)
    d.send(quote(MNQ, "20925", at=d.now))
    assert d.acct.equity == D("49700")
    assert d.acct.state is State.Trading, f"flattened at 49700, peak {peak(d)}"


def test_a_win_booked_while_behind_then_voided_live() -> None:
    """An exposed account's two steps at start-up: its positions behind a behind `Listing`
    (flat), then the trades since the week began (the +800 made while stopped) and the
    balance 50,800. The firm then voids the win live."""
    d = driver()
    buy = long_2(d)
    again = restart(d, engine, at=d.now + timedelta(minutes=5))
    acct = again.acct
    sell = fill(MNQ, Side.SELL, 2, "21200", pnl="800", order_id=2, at=d.now + timedelta(minutes=2))
    fz = frozenset
    began = again.now
    listing = Listing(
        again.acc, fz(), fz(), fz({MNQ}), fz(acct.orders), fz(acct.seen_trades), behind=True,
        began=began,
    )  # fmt: skip
    again.send(listing, dataclasses.replace(flat(MNQ, at=again.now), snapshot=True))
    assert acct.behind is not None
    applied = fz({buy.trade_id, sell.trade_id})
    again.send(
        TradesSnapshot(again.acc, acct.week.start, (buy, sell), fz(acct.seen_trades), fz()),
        dataclasses.replace(account("50800"), applied=applied, voided=fz()),
        quote(MNQ, "21200", at=again.now),
    )
    assert acct.behind is None and peak(again) == D("50800")
    assert acct.rule_state["RULE-004"]["raised"] == {str(sell.trade_id): "50000"}
    voided_then_a_real_300_loss(again, sell)


def test_a_win_while_a_missed_reset_waits_for_the_trades_then_voided() -> None:
    """Stopped at 15:00 long 2 MNQ, started after the daily reset (missed: `core.missed`).
    Before the start-up read lists the trades, the trader sells live (+800); the read then;
    later the firm voids the sell."""
    d = driver()
    long_2(d)
    again = restart(d, engine, at=MON_RESET + timedelta(minutes=5))
    assert again.acct.missed is not None
    again.send(quote(MNQ, "21000", at=again.now))
    sell = fill(MNQ, Side.SELL, 2, "21200", pnl="800", order_id=2, at=again.now)
    again.send(sell, flat(MNQ, at=again.now), account("50800"))
    start_up_read(again, flat(MNQ, at=again.now), account("50800"))
    again.send(quote(MNQ, "21200", at=again.now))
    assert again.acct.missed is None and peak(again) == D("50800")
    voided_then_a_real_300_loss(again, sell)


def test_a_win_voided_while_stopped_read_at_restart() -> None:
    """The void made while the service was stopped: the start-up read lists the sell voided
    (its fills come before the trade list) and the balance 50,000; the void asks for the
    read that settles it."""
    d = driver()
    buy = long_2(d)
    d.now += timedelta(seconds=1)
    sell = fill(MNQ, Side.SELL, 2, "21200", pnl="800", order_id=2, at=d.now, trade_id=5001)
    d.send(sell, flat(MNQ, at=d.now), account("50800"), quote(MNQ, "21200", at=d.now))
    again = restart(d, engine, at=d.now + timedelta(minutes=5))
    gone = dataclasses.replace(sell, voided=True)
    out = gateway_read(again, gone, account("50000"), trades=(buy, gone))
    again.engine.resume(again.acc, set(), again.now)
    assert trade_reads(out) == [ReadTrades(again.acc)]
    assert peak(again) == D("50800")  # (the read's positions were asked before the void)
    again.advance(seconds=1)
    gateway_read(again, account("50000"))
    assert peak(again) == D("50000")
