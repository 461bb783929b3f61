"""A working market exit of the trader's holds our close back no longer than our own close.

While a contract flattens, a market order that only reduces the position (the trader's exit,
the platform's liquidation) is left to work and no close of ours goes beside it (both filled,
they would reverse the position). Reported: an exit that never filled (a halted market, a
gateway that parks it, its final record lost) left the position over its limit for good,
`status` saying Flattening, with no alert. It is now given the close timeout, then judged by
a read of the gateway as our own close is: still working there, it is cancelled and our close
goes once the cancel is confirmed; gone, our close is sized from the gateway's position."""

from __future__ import annotations

from fsm_risk.core.effects import CancelOrder, ClosePosition, Effect, Level
from fsm_risk.core.engine import RiskEngine
from fsm_risk.core.events import AccountUpdate, OrderStatus, OrderType, OrderUpdate, Side
from fsm_risk.core.reasons import Reason
from fsm_risk.core.states import State
from fsm_risk.rules.base import Action, Verdict
from tests.factories import (
    ACC,
    MNQ,
    T0,
    Driver,
    account,
    alerts,
    cancels,
    closes,
    fill,
    flat,
    gateway_read,
    make_engine,
    position,
    reads,
    restart,
    start_up_read,
    trip_on,
)

EXIT = 60


def exit_order(status: OrderStatus, volume: int = 0) -> OrderUpdate:
    """The trader's market sell of the whole long 2."""
    return OrderUpdate(
        ACC, EXIT, MNQ, status, OrderType.MARKET, Side.SELL, 2, T0, fill_volume=volume
    )


def rules() -> RiskEngine:
    close_all = Verdict("RULE-T01", Reason.DAILY_LOSS_LIMIT, Action.FLATTEN, lock=State.LockedDaily)
    return make_engine(extra=[trip_on(AccountUpdate, close_all)])


def flattening_with_the_exit_working() -> Driver:
    """Long 2 MNQ, the trader's market sell of 2 working, then the day's loss limit: the
    account flattens and leaves the exit to work (nothing of ours goes beside it)."""
    d = Driver(rules())
    d.send(position(MNQ, 2, "21000"), exit_order(OrderStatus.OPEN), account())
    assert d.acct.state is State.Flattening
    assert closes(d.effects) == [] and cancels(d.effects) == []
    return d


def exit_alerts(out: list[Effect]) -> list[tuple[Level, str]]:
    return [(a.level, a.message) for a in alerts(out) if a.reason is Reason.CLOSE_NOT_CONFIRMED]


def test_an_exit_still_working_after_the_close_timeout_is_read_then_cancelled_and_replaced() -> (
    None
):
    d = flattening_with_the_exit_working()
    out = d.advance(seconds=9)
    assert reads(out) == [] and closes(out) == [] and exit_alerts(out) == []
    out = d.advance(seconds=1)  # the close timeout: read the gateway, as for our close
    assert [r.contract_id for r in reads(out)] == [MNQ]
    assert closes(out) == [] and cancels(out) == []
    [(level, message)] = exit_alerts(out)
    assert level is Level.WARNING and str(EXIT) in message and "reading the gateway" in message
    out = gateway_read(d, exit_order(OrderStatus.OPEN), position(MNQ, 2, "21000"))
    # still working at the gateway: cancelled, and no close of ours beside it
    assert [(c.order_id, c.reason) for c in cancels(out)] == [(EXIT, Reason.EXIT_NOT_FILLED)]
    assert closes(out) == []
    [(level, message)] = exit_alerts(out)
    assert level is Level.CRITICAL and str(EXIT) in message and "cancelled" in message
    out = d.advance(seconds=1)
    assert closes(out) == []  # the cancel is not confirmed yet: never two closes at once
    out = d.send(exit_order(OrderStatus.CANCELLED))
    assert [c.contract_id for c in closes(out)] == [MNQ]  # ours, at once
    d.send(flat(MNQ), fill(MNQ, Side.SELL, 2, "21000", pnl="0"))
    assert d.acct.state is State.LockedDaily


def test_an_exit_the_read_no_longer_lists_has_our_close_sized_from_the_gateway() -> None:
    """Cancelled at the gateway with its record lost: the read lists no order and 2 open."""
    d = flattening_with_the_exit_working()
    assert [r.contract_id for r in reads(d.advance(seconds=10))] == [MNQ]
    out = gateway_read(d, position(MNQ, 2, "21000"))
    assert [c.contract_id for c in closes(out)] == [MNQ] and cancels(out) == []


def test_an_exit_filled_unheard_of_is_confirmed_by_the_read_and_nothing_is_sent() -> None:
    d = flattening_with_the_exit_working()
    assert [r.contract_id for r in reads(d.advance(seconds=10))] == [MNQ]
    out = gateway_read(d, fill(MNQ, Side.SELL, 2, "21000", pnl="0", order_id=EXIT), flat(MNQ))
    assert closes(out) == []
    # (the read's flat position, applied before its listing drops the order, has the order
    # cancelled as any order beside no position: a lost race at the gateway, not ours)
    assert Reason.EXIT_NOT_FILLED not in [c.reason for c in cancels(out)]
    assert d.acct.state is State.LockedDaily
    assert closes(d.advance(seconds=60)) == []


def test_without_a_read_the_exit_is_asked_about_at_each_timeout_warning_then_critical() -> None:
    d = flattening_with_the_exit_working()
    for _ in range(4):
        d.advance(seconds=10)
    assert len(reads(d.effects)) == 4 and closes(d.effects) == [] and cancels(d.effects) == []
    levels = [level for level, _ in exit_alerts(d.effects)]
    assert levels == [Level.WARNING, Level.WARNING, Level.CRITICAL, Level.CRITICAL]
    assert all(str(EXIT) in m for _, m in exit_alerts(d.effects))


def test_a_cancel_of_the_exit_confirmed_unheard_of_is_found_by_the_next_read() -> None:
    d = flattening_with_the_exit_working()
    d.advance(seconds=10)
    gateway_read(d, exit_order(OrderStatus.OPEN), position(MNQ, 2, "21000"))
    assert [c.order_id for c in cancels(d.effects)] == [EXIT]
    # the gateway cancels it; its record is lost. A close timeout later: read again
    out = d.advance(seconds=10)
    assert [r.contract_id for r in reads(out)] == [MNQ] and closes(out) == []
    out = gateway_read(d, position(MNQ, 2, "21000"))
    assert [c.contract_id for c in closes(out)] == [MNQ]
    assert [type(e) for e in d.effects if isinstance(e, ClosePosition | CancelOrder)].count(
        ClosePosition
    ) == 1


def test_an_exit_that_fills_within_the_timeout_asks_nothing() -> None:
    d = flattening_with_the_exit_working()
    d.advance(seconds=5)
    d.send(  # its fill before its final record (the other way round is a separate race)
        fill(MNQ, Side.SELL, 2, "21000", pnl="0", order_id=EXIT),
        exit_order(OrderStatus.FILLED, 2),
        flat(MNQ),
    )
    assert d.acct.state is State.LockedDaily
    d.advance(seconds=60)
    assert reads(d.effects) == [] and exit_alerts(d.effects) == []
    assert closes(d.effects) == [] and cancels(d.effects) == []


def test_a_restart_while_the_exit_holds_our_close_back_judges_it_a_timeout_after_the_start() -> (
    None
):
    d = flattening_with_the_exit_working()
    d.advance(seconds=8)
    d = restart(d, rules)
    out = start_up_read(d, exit_order(OrderStatus.OPEN), position(MNQ, 2, "21000"))
    assert closes(out) == [] and cancels(out) == []  # the start read lists it working
    assert d.acct.contracts[MNQ].state is State.Flattening
    assert reads(d.advance(seconds=9)) == []
    assert [r.contract_id for r in reads(d.advance(seconds=1))] == [MNQ]
    out = gateway_read(d, exit_order(OrderStatus.OPEN), position(MNQ, 2, "21000"))
    assert [c.order_id for c in cancels(out)] == [EXIT] and closes(out) == []
