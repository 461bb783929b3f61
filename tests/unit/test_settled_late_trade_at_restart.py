"""A position settled without a fill whose trade a restart then reads (an adversarial review):
the trade list of an exposed account comes after its positions, so the late trade is one the
positions already reflect. Its P&L replaced nothing: the settlement (-482) and the trade
(-482) both counted, -964 against a limit of 500 would have locked the account and closed its
MES wrongly. It replaces the settlement, as a live late fill does."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from fsm_risk.core.events import AccountUpdate, Listing, Side, TradesSnapshot
from fsm_risk.core.reasons import Reason
from fsm_risk.core.states import State
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from tests.factories import (
    ACC,
    MES,
    MNQ,
    Driver,
    account,
    alerts,
    fill,
    gateway_trades,
    position,
    quote,
    restart,
    rule_driver,
    rule_engine,
)

D = Decimal


def long_two(d: Driver) -> None:
    d.send(fill(MNQ, Side.BUY, 2, "21010.50"), position(MNQ, 2, "21010.50"))
    d.send(account("50000"), quote(MNQ, "20900", at=d.now))
    assert d.acct.open_upnl == D("-442") and d.acct.state is State.Trading


def service_read(d: Driver, *listed, began=None):
    """A read exactly as service._ReadBegan applies it (positions_before includes the
    contracts the fills say are open), its trade list (`TradesSnapshot`) last."""
    acct = d.acct
    trades = gateway_trades(d, *listed)
    positions = frozenset(set(acct.positions) | {c for c, n in acct.net.items() if n})
    orders, applied = frozenset(acct.orders), frozenset(acct.seen_trades)
    listed_ids = applied | {e.trade_id for e in listed if hasattr(e, "trade_id")}
    from fsm_risk.core.events import PositionUpdate

    marked = [
        dataclasses.replace(e, applied=listed_ids)
        if isinstance(e, AccountUpdate | PositionUpdate)
        else e
        for e in listed
    ]
    out = d.send(*marked)
    lst = Listing(
        d.acc,
        frozenset(e.contract_id for e in marked if isinstance(e, PositionUpdate)),
        frozenset(),
        positions,
        orders,
        listed_ids,
        began=began or d.now,
    )
    out += d.send(lst)
    return out + d.send(TradesSnapshot(d.acc, acct.day.start, trades, applied))


def test_a_late_trade_a_restart_reads_replaces_the_settlement() -> None:
    """Settled (-482 booked). The service restarts while the account holds 1 MES (exposed:
    the enforcing step, then the trades); the gateway's trade list now holds the MNQ close
    after all (-482)."""
    from fsm_risk.core.events import Tick, TradesSnapshot

    d = rule_driver(DailyLossLimit, limit="5000")
    long_two(d)
    service_read(d, account("49518.00"))  # settled, booked
    d.send(account("49518.00"))
    assert d.acct.day.realized == D("-482.00") and d.acct.day.settled == D("-482.00")
    d.send(fill(MES, Side.BUY, 1, "6000.00", at=d.now), position(MES, 1, "6000.00"))
    buy_mnq = next(f for f in d.acct.day.fills if f.contract_id == MNQ)
    buy_mes = next(f for f in d.acct.day.fills if f.contract_id == MES)
    d.advance(minutes=5)
    again = restart(d, lambda: rule_engine(DailyLossLimit, limit="5000"))
    acct = again.acct
    applied = frozenset(acct.seen_trades)
    before = frozenset(set(acct.positions) | {c for c, n in acct.net.items() if n})
    again.send(
        Listing(
            ACC,
            frozenset({MES}),
            frozenset(),
            before,
            frozenset(),
            applied,
            behind=True,
            began=again.now,
        )
    )
    again.send(dataclasses.replace(position(MES, 1, "6000.00"), snapshot=True, applied=applied))
    late = fill(MNQ, Side.SELL, 2, "20890", pnl="-482.00", order_id=9, at=d.now)
    trades = (
        fill(MNQ, Side.BUY, 2, "21010.50", trade_id=buy_mnq.trade_id, at=buy_mnq.at),
        fill(MES, Side.BUY, 1, "6000.00", trade_id=buy_mes.trade_id, at=buy_mes.at),
        late,
    )
    outs = again.send(TradesSnapshot(ACC, acct.week.start, trades, applied))
    again.send(dataclasses.replace(account("49518.00"), applied=applied | {late.trade_id}))
    again.send(Tick(ACC))
    assert acct.day.realized == D("-482.00"), "the settlement and its late trade both counted"
    assert acct.day.settled == 0 and acct.settled == {} and acct.state is State.Trading
    # booked as the close it is, not an opening of 2 (an entry for max_trades_per_day and
    # rapid_fire, and the gateway's +0 taken for positions without fills: a false alert)
    rec = acct.day.fills[-1]
    assert (rec.contract_id, rec.entry, rec.exit) == (MNQ, 0, 2)
    assert not any(a.reason is Reason.POSITION_WITHOUT_FILLS for a in alerts(outs))


def test_the_same_late_trade_read_while_running_replaces_it_once() -> None:
    """(The same, read while running: replaced once.)"""
    d = rule_driver(DailyLossLimit, limit="5000")
    long_two(d)
    service_read(d, account("49518.00"))
    late = fill(MNQ, Side.SELL, 2, "20890", pnl="-482.00", order_id=9, at=d.now)
    service_read(d, late, account("49518.00"))
    assert d.acct.day.realized == D("-482.00")
