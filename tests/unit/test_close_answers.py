"""Each answer and record of a close is matched to the close it is for.

The gateway's answer to a close names no order and may come late (its hub is faster than its
REST answer); a close's trade may come before its order's record. Seen by probing the engine
with orders of events a real gateway sends:
- a late answer of the close before was taken for the next one's, and a read begun before the
  next reached the gateway then "showed it done": a third close went beside the second, which
  reverses the position once both fill (closes are numbered: an answer gives its number back);
- our close's trade before its order's record was never counted for it: the next close waited
  a whole close timeout and a read (10 s with 7 open against a limit of 3) instead of going
  at once;
- a close neither answered nor seen yet was forgotten once the trader's own exits reached the
  target, and his next add sent a second one beside it;
- a whole close is sized by the gateway from what is open when it executes: after the trader
  added (or took some off) while it was on its way, its order was not recognised as ours, and
  the next position on the locked account waited a whole close timeout (10 s shipped) and a
  read before it was closed."""

from __future__ import annotations

from datetime import timedelta

from fsm_risk.core.effects import ClosePosition, Level, ReducePosition
from fsm_risk.core.events import (
    AdminCommand,
    EnforcementAccepted,
    EnforcementRejected,
    Event,
    OrderStatus,
    Side,
)
from fsm_risk.core.exposure import close_wanted
from fsm_risk.core.reasons import Reason
from fsm_risk.core.states import State
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from fsm_risk.rules.max_contracts_per_instrument import MaxContractsPerInstrument
from tests.factories import (
    ACC,
    MNQ,
    NQ,
    Driver,
    account,
    alerts,
    closes,
    fill,
    flat,
    gateway_read,
    make_engine,
    market,
    position,
    quote,
    reduces,
    restart,
)


def limit_3() -> Driver:
    d = Driver(make_engine({MaxContractsPerInstrument: {"limits": "MNQ: 3"}}))
    d.send(account(), quote(MNQ, "21000"))
    return d


def locked() -> Driver:
    d = Driver(make_engine({DailyLossLimit: {"limit": "1000"}}))
    d.send(account(), quote(MNQ, "21000"))
    d.send(AdminCommand(ACC, State.LockedDaily, "risk desk", "ops"))
    return d


def traded(oid: int, side: Side, size: int, open_after: int) -> tuple[Event, ...]:
    """An order of ``size`` filled at once (its record, its trade), and the position after."""
    end = position(MNQ, open_after, "21000") if open_after else flat(MNQ)
    pnl = "0" if side is Side.SELL else None
    return (
        market(oid, side, size, OrderStatus.FILLED, size),
        fill(MNQ, side, size, "21000", pnl=pnl, order_id=oid),
        end,
    )


def ms(d: Driver, n: int) -> None:
    d.now += timedelta(milliseconds=n)


def sizes(d: Driver) -> list[int]:
    return [r.size for r in reduces(d.effects)]


def test_a_late_answer_of_the_reduce_before_is_not_taken_for_the_next() -> None:
    d = limit_3()
    d.send(*traded(10, Side.BUY, 5, 5))  # over the limit of 3: reduce 2 (number 1)
    ms(d, 20)
    d.send(*traded(11, Side.BUY, 4, 9))  # he adds 4 while it works
    ms(d, 20)
    d.send(*traded(82, Side.SELL, 2, 7))  # it fills (the hub before its REST answer)
    assert sizes(d) == [2, 4]  # the next at once (number 2)
    ms(d, 30)
    d.send(EnforcementAccepted(ACC, MNQ, None, seq=1))  # the first's answer, late
    ms(d, 5)
    gateway_read(d, position(MNQ, 7, "21000"))  # begun before the second reached it
    assert sizes(d) == [2, 4]  # the second was never answered nor seen: no third


def test_a_late_answer_of_the_close_before_is_not_taken_for_the_next_in_a_lock() -> None:
    d = locked()
    d.send(*traded(10, Side.BUY, 7, 7))
    ms(d, 20)
    d.send(*traded(82, Side.SELL, 7, 0))  # our close fills, its answer still on its way
    ms(d, 10)
    d.send(*traded(11, Side.BUY, 5, 5))  # he buys again before the sweep's cancel lands
    assert len(closes(d.effects)) == 2
    ms(d, 20)
    d.send(EnforcementAccepted(ACC, MNQ, None, seq=1))
    ms(d, 5)
    gateway_read(d, position(MNQ, 5, "21000"))
    assert len(closes(d.effects)) == 2


def test_the_answer_of_the_close_in_flight_is_still_taken() -> None:
    d = limit_3()
    d.send(*traded(10, Side.BUY, 5, 5))
    [r] = reduces(d.effects)
    assert r.seq == 1
    d.send(EnforcementAccepted(ACC, MNQ, None, seq=1))
    ms(d, 5)
    gateway_read(d, position(MNQ, 5, "21000"))  # begun after it was taken: none works: lost
    assert sizes(d) == [2, 2] and [r.seq for r in reduces(d.effects)] == [1, 2]


def test_a_reduce_whose_trade_comes_before_its_order_record_is_done_with_that_record() -> None:
    d = limit_3()
    d.send(*traded(10, Side.BUY, 5, 5))
    d.send(EnforcementAccepted(ACC, MNQ, None, seq=1))
    ms(d, 10)
    d.send(*traded(11, Side.BUY, 4, 9))  # he adds 4 while it works
    ms(d, 10)
    d.send(  # our reduce fills: its trade and the position first, its order's record last
        fill(MNQ, Side.SELL, 2, "21000", pnl="0", order_id=82),
        position(MNQ, 7, "21000"),
        market(82, Side.SELL, 2, OrderStatus.FILLED, 2),
    )
    assert sizes(d) == [2, 4]  # the next at once, not a close timeout and a read later


def test_a_lock_during_a_reduce_closes_the_rest_once_its_order_record_comes() -> None:
    d = limit_3()
    d.send(position(MNQ, 5, "21000"))
    d.send(EnforcementAccepted(ACC, MNQ, None, seq=1))
    ms(d, 10)
    d.send(AdminCommand(ACC, State.LockedDaily, "risk desk", "ops"))
    ms(d, 10)
    d.send(
        fill(MNQ, Side.SELL, 2, "21000", pnl="0", order_id=82),
        position(MNQ, 3, "21000"),
        market(82, Side.SELL, 2, OrderStatus.FILLED, 2),
    )
    sent = [type(e) for e in d.effects if isinstance(e, ClosePosition | ReducePosition)]
    assert sent == [ReducePosition, ClosePosition]


def test_a_reduce_not_yet_answered_outlives_the_traders_exits_to_the_target() -> None:
    d = limit_3()
    d.send(*traded(10, Side.BUY, 5, 5))  # reduce 2 on its way (a slow answer)
    ms(d, 50)
    d.send(*traded(81, Side.SELL, 1, 4))  # his own exits, to the target
    d.send(*traded(83, Side.SELL, 1, 3))
    ms(d, 50)
    d.send(*traded(12, Side.BUY, 4, 7))  # and he adds 4
    assert sizes(d) == [2]  # not a second beside the first, which may still be placed


def commit(d: Driver) -> None:
    """What the shell does after each batch: take the changes (idle contract models go)."""
    d.engine.take_changes()


def test_numbers_do_not_start_again_when_the_contracts_model_is_let_go() -> None:
    """Found by review: with the shell's commit between the flat and the next buy (as live),
    the contract's model was let go and made afresh, and the next close was number 1 again:
    the first's late answer was taken for it, and a third close went beside the second."""
    d = locked()
    d.send(*traded(10, Side.BUY, 7, 7))
    commit(d)
    ms(d, 20)
    d.send(*traded(82, Side.SELL, 7, 0))  # our close fills, its answer still on its way
    commit(d)
    assert MNQ not in d.acct.contracts  # let go: nothing of it left to keep
    ms(d, 10)
    d.send(*traded(11, Side.BUY, 5, 5))
    assert [c.seq for c in closes(d.effects)] == [1, 2]
    ms(d, 20)
    d.send(EnforcementAccepted(ACC, MNQ, None, seq=1))
    ms(d, 5)
    gateway_read(d, position(MNQ, 5, "21000"))
    assert len(closes(d.effects)) == 2


def first_close_given_up() -> Driver:
    """A locked account: our close of 7 decided, his own exit flat before it was seen, and the
    close, kept unseen past the flat, timed out (committed after each step, as the shell)."""
    d = locked()
    d.send(*traded(10, Side.BUY, 7, 7))
    commit(d)
    d.send(fill(MNQ, Side.SELL, 7, "21000", pnl="0", order_id=20), flat(MNQ))  # his own exit
    commit(d)
    d.advance(seconds=11)
    commit(d)
    return d


def test_a_late_refusal_of_the_close_before_does_not_end_the_next() -> None:
    d = first_close_given_up()
    d.send(*traded(11, Side.BUY, 5, 5))
    assert [c.seq for c in closes(d.effects)] == [1, 2]
    d.send(EnforcementRejected(ACC, MNQ, None, "No open position", overtaken=True, seq=1))
    d.advance(seconds=2)
    assert len(closes(d.effects)) == 2 and d.acct.contracts[MNQ].close_in_flight


def test_the_number_survives_a_restart_with_the_account() -> None:
    d = locked()
    d.send(*traded(10, Side.BUY, 7, 7))
    d.send(*traded(82, Side.SELL, 7, 0))
    commit(d)
    d = restart(d, lambda: make_engine({DailyLossLimit: {"limit": "1000"}}))
    d.send(*traded(11, Side.BUY, 5, 5))
    assert [c.seq for c in closes(d.effects)] == [2]


def test_a_close_is_wanted_only_while_it_is_the_one_in_flight_and_still_needed() -> None:
    """Asked by the shell once a close has its slot in the request budget (it may have waited):
    one judged done since, or replaced by a newer one, is not sent."""
    d = limit_3()
    d.send(*traded(10, Side.BUY, 5, 5))  # reduce 2, number 1
    assert close_wanted(d.acct, MNQ, 1) and not close_wanted(d.acct, MNQ, 2)
    assert not close_wanted(d.acct, NQ, 1) and not close_wanted(None, MNQ, 1)
    d.send(*traded(81, Side.SELL, 2, 3))  # his own exit of that size, taken for ours
    assert not close_wanted(d.acct, MNQ, 1)  # at the limit: the reduce would go below it
    d.send(*traded(12, Side.BUY, 4, 7))  # he adds 4: the next, number 2
    assert [r.seq for r in reduces(d.effects)] == [1, 2]
    assert close_wanted(d.acct, MNQ, 2) and not close_wanted(d.acct, MNQ, 1)


def test_a_whole_close_sized_from_a_position_that_grew_on_its_way_is_recognised() -> None:
    d = locked()
    d.send(*traded(10, Side.BUY, 7, 7))  # a close of 7 goes
    ms(d, 20)
    d.send(*traded(11, Side.BUY, 2, 9))  # he adds 2 before the gateway executes it
    ms(d, 20)
    d.send(*traded(82, Side.SELL, 9, 0))  # ours, sized from the 9 open then
    ms(d, 10)
    d.send(*traded(12, Side.BUY, 3, 3))  # he buys again: closed at once
    assert len(closes(d.effects)) == 2


def test_a_whole_close_sized_from_a_position_that_shrank_on_its_way_is_recognised() -> None:
    d = locked()
    d.send(*traded(10, Side.BUY, 7, 7))
    ms(d, 20)
    d.send(*traded(11, Side.SELL, 3, 4))  # he takes 3 off himself
    ms(d, 20)
    d.send(*traded(82, Side.SELL, 4, 0))  # ours closes the 4 left
    ms(d, 10)
    d.send(*traded(12, Side.BUY, 3, 3))
    assert len(closes(d.effects)) == 2


NOT_SENT = "/api/Position/partialCloseContract: not sent: no longer wanted"


def test_a_reduce_judged_done_before_its_turn_is_said_as_not_sent_not_as_refused() -> None:
    """Seen in the alerts: a reduce that waited for the request budget and was dropped once
    its turn came (his own exit reached the limit) was said as "refused: the position was
    already closed or reduced at the gateway": nothing was refused, nothing reached it."""
    d = limit_3()
    d.send(*traded(10, Side.BUY, 5, 5))  # reduce 2, number 1, waiting for the budget
    d.send(*traded(81, Side.SELL, 2, 3))  # his own exit to the limit: no longer wanted
    out = d.send(EnforcementRejected(ACC, MNQ, None, NOT_SENT, seq=1, sent=False))
    [alert] = alerts(out)
    assert (alert.level, alert.reason) == (Level.INFO, Reason.OVERTAKEN)
    assert alert.message == (
        f"close of {MNQ} not sent: no longer wanted when its turn in the request budget came "
        "(the position moved meanwhile, or a newer close replaced it)"
    )
    assert not d.acct.contracts[MNQ].close_in_flight and sizes(d) == [2]  # ended, as before


def test_a_close_replaced_by_a_newer_one_is_said_as_not_sent_and_the_newer_goes_on() -> None:
    d = first_close_given_up()
    d.send(*traded(11, Side.BUY, 5, 5))  # he buys again: close number 2
    assert [c.seq for c in closes(d.effects)] == [1, 2]
    out = d.send(EnforcementRejected(ACC, MNQ, None, NOT_SENT, seq=1, sent=False))
    [alert] = alerts(out)  # still over the target, yet no refusal: nothing was sent
    assert (alert.level, alert.reason) == (Level.INFO, Reason.OVERTAKEN)
    assert "not sent: no longer wanted" in alert.message and "refused" not in alert.message
    d.advance(seconds=2)
    assert len(closes(d.effects)) == 2 and d.acct.contracts[MNQ].close_in_flight


def test_a_close_refused_as_already_done_at_the_gateway_is_still_said_so() -> None:
    d = limit_3()
    d.send(*traded(10, Side.BUY, 5, 5))
    d.send(*traded(81, Side.SELL, 2, 3))
    out = d.send(EnforcementRejected(ACC, MNQ, None, "No open position", overtaken=True, seq=1))
    [alert] = alerts(out)
    assert alert.message == (
        f"close of {MNQ} refused: the position was already closed or reduced at the gateway "
        "(No open position)"
    )
