"""Our close is recognised among the gateway's orders only when it can be ours.

Production's close of a whole position names no order: the service recognises its order among
the order events. Reported (invariant fuzzer, a slow gateway): in a locked account the trader
sold 2 MNQ, then bought 4 before our close of the 2 arrived; the trader's buy 4 was taken for
our close, so our real close (sell 2) filling was taken for the trader's: CRITICAL
CLOSE_OVERSHOT, the trader's order cancelled as ours, and a second close sent."""

from __future__ import annotations

from datetime import timedelta

from fsm_risk.core.events import AdminCommand, OrderStatus, Side
from fsm_risk.core.reasons import Reason
from fsm_risk.core.states import State
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from tests.factories import (
    ACC,
    MNQ,
    Driver,
    account,
    alerts,
    cancels,
    closes,
    fill,
    flat,
    make_engine,
    market,
    position,
    quote,
)


def locked() -> Driver:
    d = Driver(make_engine({DailyLossLimit: {"limit": "1000"}}))
    d.send(account(), quote(MNQ, "21000"))
    d.send(AdminCommand(ACC, State.LockedDaily, "risk desk", "ops"))
    return d


def test_the_traders_market_order_is_never_taken_for_our_close_of_the_whole_position() -> None:
    d = locked()
    out = d.send(
        market(70, Side.SELL, 2, OrderStatus.OPEN),
        market(70, Side.SELL, 2, OrderStatus.FILLED, 2),
        fill(MNQ, Side.SELL, 2, "21000", order_id=70),
        position(MNQ, 2, "21000", long=False),
    )
    assert len(closes(out)) == 1  # short 2 in a locked account: our close of the whole, no order id
    out = d.send(market(71, Side.BUY, 4, OrderStatus.OPEN))  # the trader's buy 4, 0.1 s later
    assert d.acct.contracts[MNQ].close_order != 71
    assert 71 not in d.acct.own_orders  # the trader's: its fills are the trader's trades
    out += d.send(
        market(71, Side.BUY, 4, OrderStatus.FILLED, 4),
        fill(MNQ, Side.BUY, 4, "21000", pnl="0", order_id=71),
        position(MNQ, 2, "21000"),
    )
    # our close arrives at the gateway after the trader's buy: it closes the long 2 there
    out += d.send(
        market(72, Side.SELL, 2, OrderStatus.OPEN),
        market(72, Side.SELL, 2, OrderStatus.FILLED, 2),
        fill(MNQ, Side.SELL, 2, "21000", pnl="0", order_id=72),
        flat(MNQ),
    )
    assert [a for a in alerts(out) if a.reason is Reason.CLOSE_OVERSHOT] == []
    assert 72 not in [c.order_id for c in cancels(out)]  # never cancelled as the trader's
    assert closes(out) == []  # no second close: the position is flat


def test_no_second_close_goes_while_ours_works_beside_the_traders_exit() -> None:
    """Reported with slow fills: closes sent one after another while the first still worked,
    reversing the position further each time. The trader's market sell, taken for our close,
    was seen filled, so our close was taken for done and the next one went beside it."""
    d = locked()
    out = d.send(
        market(80, Side.BUY, 7, OrderStatus.OPEN),
        market(80, Side.BUY, 7, OrderStatus.FILLED, 7),
        fill(MNQ, Side.BUY, 7, "21000", order_id=80),
        position(MNQ, 7, "21000"),
    )
    assert len(closes(out)) == 1  # long 7 in a locked account: our close of the whole
    out = d.send(market(81, Side.SELL, 3, OrderStatus.OPEN))  # the trader's exit, before ours
    out += d.send(market(82, Side.SELL, 7, OrderStatus.OPEN))  # our close, working
    assert d.acct.contracts[MNQ].close_order == 82
    out += d.send(
        market(81, Side.SELL, 3, OrderStatus.FILLED, 3),
        fill(MNQ, Side.SELL, 3, "21000", pnl="0", order_id=81),
        position(MNQ, 4, "21000"),
    )
    d.now += timedelta(seconds=2)  # well within the close timeout
    out += d.send(quote(MNQ, "21001"))
    assert closes(out) == []  # ours still works (or its cancel does): never a second beside it
    assert d.acct.contracts[MNQ].close_in_flight
