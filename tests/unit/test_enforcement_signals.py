"""Honest signals from the engine: a lost race is not a rejected close, a trade list read
while fills keep arriving is not an incomplete one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from fsm_risk.core.effects import Level
from fsm_risk.core.events import EnforcementRejected, OrderStatus, OrderType, Side, TradesSnapshot
from fsm_risk.core.reasons import Reason
from fsm_risk.core.states import State
from tests.factories import (
    ACC,
    ES,
    MNQ,
    Driver,
    account,
    alerts,
    cancels,
    closes,
    fill,
    flat,
    make_engine,
    order,
    position,
    reduces,
    transitions,
)

FLAT_BY = datetime(2026, 11, 23, 21, 8, tzinfo=UTC)  # Mon 15:08 Chicago


def test_a_cancel_refused_after_the_order_filled_is_information_not_a_rejection(
    locked: Driver,
) -> None:
    d = locked
    d.send(order(88, ES, Side.BUY, 1, type=OrderType.MARKET))
    assert [c.order_id for c in cancels(d.effects)] == [88]
    d.send(order(88, ES, Side.BUY, 1, type=OrderType.MARKET, status=OrderStatus.FILLED))
    out = d.send(EnforcementRejected(ACC, ES, 88, "Order 88 is filled, not working"))
    assert [(a.level, a.reason) for a in alerts(out)] == [(Level.INFO, Reason.OVERTAKEN)]


def test_a_cancel_refused_while_the_order_still_works_is_a_rejection(
    locked: Driver,
) -> None:
    d = locked
    d.send(order(89, ES, Side.BUY, 1, limit="5000"))
    out = d.send(EnforcementRejected(ACC, ES, 89, "gateway busy"))
    assert [(a.level, a.reason) for a in alerts(out)] == [(Level.CRITICAL, Reason.CLOSE_REJECTED)]


def test_a_close_refused_because_the_gateway_closed_it_first_is_information(
    locked: Driver,
) -> None:
    d = locked
    out = d.send(EnforcementRejected(ACC, MNQ, None, "No open position", overtaken=True))
    assert [(a.level, a.reason) for a in alerts(out)] == [(Level.INFO, Reason.OVERTAKEN)]


def test_trades_applied_after_the_list_was_read_are_not_missing_from_it() -> None:
    d = Driver(make_engine())
    d.send(account(), fill(MNQ, Side.BUY, 1, "21000", fees="0.74", trade_id=801))
    asked = frozenset(d.acct.seen_trades)  # the list is asked for now
    listed = fill(MNQ, Side.BUY, 1, "21000", fees="0.74", trade_id=801)
    d.send(fill(MNQ, Side.SELL, 1, "21010", pnl="20", fees="0.74", trade_id=802))  # meanwhile
    out = d.send(TradesSnapshot(ACC, d.acct.week.start, (listed,), asked))
    assert alerts(out) == []
    assert d.acct.day.realized == Decimal("18.52")  # the newest trade is not dropped


def test_a_list_lacking_a_trade_applied_before_it_was_asked_for_is_still_incomplete() -> None:
    d = Driver(make_engine())
    d.send(account(), fill(MNQ, Side.SELL, 1, "21000", pnl="-400", fees="0.74", trade_id=811))
    asked = frozenset(d.acct.seen_trades)
    d.send(fill(MNQ, Side.BUY, 1, "21000", fees="0.74", trade_id=812))
    out = d.send(TradesSnapshot(ACC, d.acct.week.start, (), asked))
    assert "lacks 1 trade(s)" in alerts(out)[0].message
    assert d.acct.day.realized == Decimal("-401.48")


# --- the audit log never confirms flat while something is open ------------------------------


def flat_by_engine() -> Driver:
    from fsm_risk.rules.max_contracts_per_instrument import MaxContractsPerInstrument
    from fsm_risk.rules.trading_hours import TradingHours

    rules = {TradingHours: {}, MaxContractsPerInstrument: {"limits": "MNQ: 3"}}
    d = Driver(make_engine(rules), now=FLAT_BY + timedelta(minutes=5))  # past the flat-by
    d.send(account())
    return d


def buy_8(d: Driver, oid: int = 50) -> list[Any]:
    """The gateway's events for a market buy of 8 MNQ, in its order (position last)."""
    out = d.send(order(oid, MNQ, Side.BUY, 8, type=OrderType.MARKET))
    out += d.send(order(oid, MNQ, Side.BUY, 8, type=OrderType.MARKET, status=OrderStatus.FILLED))
    out += d.send(fill(MNQ, Side.BUY, 8, "21000", order_id=oid))
    # the fill says 8 are open: nothing may be confirmed flat before the position arrives
    assert not any(t[3] == "flat_confirmed" for t in transitions(out))
    out += d.send(position(MNQ, 8, "21000"))
    return out


def close_all(d: Driver, oid: int = 60) -> list[Any]:
    out = d.send(order(oid, MNQ, Side.SELL, 8, type=OrderType.MARKET))
    out += d.send(order(oid, MNQ, Side.SELL, 8, type=OrderType.MARKET, status=OrderStatus.FILLED))
    out += d.send(fill(MNQ, Side.SELL, 8, "21000", pnl="0", order_id=oid), flat(MNQ))
    return out


def test_past_the_flat_by_a_buy_of_8_is_closed_by_one_close_and_confirmed_only_when_flat() -> None:
    d = flat_by_engine()
    out = buy_8(d)
    assert ("Trading", "Flattening", "breach") in [t[1:] for t in transitions(out)]
    assert not any(t[3] == "flat_confirmed" for t in transitions(out))
    assert [c.contract_id for c in closes(out)] == [MNQ] and reduces(out) == []
    out = close_all(d)
    assert d.acct.state is State.LockedDaily
    assert (None, "Flattening", "LockedDaily", "flat_confirmed") in transitions(out)
    assert len(closes(d.effects)) == 1 and reduces(d.effects) == []


def test_a_position_appearing_while_locked_gets_one_close_not_a_reduce_then_a_close() -> None:
    d = flat_by_engine()
    buy_8(d)
    close_all(d)
    assert d.acct.state is State.LockedDaily
    d.effects.clear()
    buy_8(d, oid=70)
    close_all(d, oid=80)
    assert len(closes(d.effects)) == 1 and reduces(d.effects) == []
    assert d.acct.contracts[MNQ].state is State.Trading and d.acct.state is State.LockedDaily


# --- the balance is never set back by a reconciliation that read it earlier -------------------


def test_a_balance_read_back_before_a_fill_applied_since_does_not_set_the_balance_back() -> None:
    from fsm_risk.core.events import AccountUpdate

    d = Driver(make_engine())
    d.send(account("50000"), fill(MNQ, Side.BUY, 1, "21000", fees="0.74", trade_id=901))
    asked = frozenset(d.acct.seen_trades)  # a reconciliation starts; the gateway says 49999.26
    d.send(fill(MNQ, Side.SELL, 1, "20990", pnl="-20", fees="0.74", trade_id=902))  # meanwhile
    d.send(account("49978.52"))  # ...with its live balance
    d.send(AccountUpdate(ACC, "PRAC-1001", Decimal("49999.26"), True, asked))  # the old read
    assert d.acct.balance == Decimal("49978.52") and d.acct.equity == Decimal("49978.52")


def test_a_balance_read_back_after_every_applied_fill_is_taken() -> None:
    from fsm_risk.core.events import AccountUpdate

    d = Driver(make_engine())
    d.send(account("50000"), fill(MNQ, Side.BUY, 1, "21000", fees="0.74", trade_id=911))
    asked = frozenset(d.acct.seen_trades)
    d.send(AccountUpdate(ACC, "PRAC-1001", Decimal("49999.26"), True, asked))
    assert d.acct.balance == Decimal("49999.26") and d.acct.pending_realized == 0


def test_a_position_read_back_before_a_fill_applied_since_does_not_undo_it() -> None:
    from dataclasses import replace

    d = Driver(make_engine())
    d.send(account(), fill(ES, Side.BUY, 1, "6000", trade_id=921), position(ES, 1, "6000"))
    asked = frozenset(d.acct.seen_trades)  # the reconciliation reads: 1 ES
    d.send(fill(ES, Side.BUY, 1, "6000", trade_id=922), position(ES, 2, "6000"))  # live
    stale = replace(position(ES, 1, "6000"), snapshot=True, applied=asked)
    d.send(stale)
    assert d.acct.positions[ES].size == 2 and d.acct.net[ES] == 2


def test_a_position_read_back_with_no_fill_since_is_the_gateways_word() -> None:
    from dataclasses import replace

    d = Driver(make_engine())
    d.send(account(), fill(ES, Side.BUY, 1, "6000", trade_id=931), position(ES, 1, "6000"))
    asked = frozenset(d.acct.seen_trades)
    d.send(replace(position(ES, 3, "6000"), snapshot=True, applied=asked))  # fills were missed
    assert d.acct.positions[ES].size == 3 and d.acct.net[ES] == 3


def test_an_order_reported_filled_after_its_fills_counts_them_without_walking_the_day() -> None:
    """An order's fill event asks how much of it the day's fills already hold: a lookup. It
    walked every fill of the day, on the event that comes before a breach's position: with
    thousands of fills a day, on every order that fills."""
    d = Driver(make_engine())
    d.send(account())
    for k in range(100):  # a busy day: 200 fills of other orders
        d.send(fill(MNQ, Side.BUY, 1, "21000", order_id=1000 + k, trade_id=5000 + 2 * k))
        d.send(fill(MNQ, Side.SELL, 1, "21000", order_id=2000 + k, trade_id=5001 + 2 * k))
    d.send(fill(ES, Side.BUY, 1, "6000", order_id=95, trade_id=9001))  # one of two, before

    class Walked(list[Any]):
        walks = 0

        def __iter__(self) -> Any:
            Walked.walks += 1
            return super().__iter__()

    d.acct.day.fills = Walked(d.acct.day.fills)
    d.send(order(95, ES, Side.BUY, 2, type=OrderType.MARKET, status=OrderStatus.FILLED))
    assert Walked.walks == 0
    assert d.acct.filling[95][:2] == (ES, 1)  # the other contract: its fill is still to come
    d.send(fill(ES, Side.BUY, 1, "6000", order_id=95, trade_id=9002))
    assert d.acct.filling == {} and d.acct.day.filled(95) == 2


def test_the_sizes_filled_per_order_follow_the_fills_however_they_change() -> None:
    from dataclasses import replace

    d = Driver(make_engine())
    d.send(account(), fill(ES, Side.BUY, 2, "6000", order_id=7, trade_id=1))
    day = d.acct.day
    assert day.filled(7) == 2 and day.filled(8) == 0
    d.send(fill(ES, Side.BUY, 1, "6000", order_id=7, trade_id=2))
    assert day.filled(7) == 3
    d.send(fill(ES, Side.BUY, 1, "6000", order_id=7, trade_id=2, voided=True))
    assert day.filled(7) == 2 and [f.trade_id for f in day.fills] == [1]
    day.fills.append(replace(day.fills[0], trade_id=3, order_id=8, size=4))  # from elsewhere
    assert day.filled(8) == 4 and day.filled(7) == 2


def test_an_order_reported_filled_keeps_the_scope_exposed_until_its_fill_or_a_timeout(
    locked: Driver,
) -> None:
    d = locked
    d.send(order(95, ES, Side.BUY, 2, type=OrderType.MARKET, status=OrderStatus.FILLED))
    assert d.acct.exposed()  # 2 ES are open at the gateway, though no fill says so yet
    d.advance(seconds=10)  # the fills never came: the positions tell from now on
    assert not d.acct.exposed() and d.acct.filling == {}
