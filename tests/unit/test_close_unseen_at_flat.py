"""A close of ours not yet seen at the gateway is still in flight when the position reads flat.

The gateway's answer to a close names no order, and under a slow fill (a fast market, a
halt) the close can work for seconds. Short 3 in a locked account: our close (buy 3) goes;
the trader's own buy 3 takes the position flat before ours fills; he sells 2 again. A second
close sent now (buy 2) beside the first, still working, would leave him long 3 once both
fill, and each new close for that would add more (seen: long 7, short 34, long 68). So the
first close stays in flight until its order is seen ending (or refused, or judged by a read
at its timeout): once seen working, it is withdrawn, as it would overshoot; the next close
goes when it is done, sized from what is open then."""

from __future__ import annotations

from fsm_risk.core.events import AdminCommand, EnforcementRejected, Event, OrderStatus, Side
from fsm_risk.core.reasons import Reason
from fsm_risk.core.states import State
from fsm_risk.rules.max_contracts import MaxContracts
from tests.factories import (
    ACC,
    MNQ,
    Driver,
    cancels,
    closes,
    fill,
    flat,
    gateway_read,
    market,
    position,
    reads,
    rule_driver,
)

OURS = 900


def own_buy_3() -> tuple[Event, ...]:
    return fill(MNQ, Side.BUY, 3, "21000", pnl="0", order_id=2), flat(MNQ)


def sells_2() -> tuple[Event, ...]:
    return fill(MNQ, Side.SELL, 2, "21000", order_id=3), position(MNQ, 2, "21000", long=False)


def locked_short_3() -> Driver:
    d = rule_driver(MaxContracts, limit="5")
    d.send(AdminCommand(ACC, State.Cooldown, "cool off", "ops", minutes=30))
    out = d.send(
        fill(MNQ, Side.SELL, 3, "21000", order_id=1), position(MNQ, 3, "21000", long=False)
    )
    assert [c.contract_id for c in closes(out)] == [MNQ]
    return d


def test_a_flat_reading_does_not_end_a_close_not_yet_seen() -> None:
    d = locked_short_3()
    d.send(*own_buy_3())  # the trader's own buy 3 got there first
    assert d.acct.contracts[MNQ].close_in_flight
    out = d.send(*sells_2())  # and he sells 2 again
    assert closes(out) == []  # not a second close beside the first
    # our close shows up, working: it would take the short 2 to long 1: withdrawn
    out = d.send(market(OURS, Side.BUY, 3, OrderStatus.OPEN))
    assert [(c.order_id, c.reason) for c in cancels(out)] == [(OURS, Reason.CLOSE_WITHDRAWN)]
    assert closes(out) == []
    out = d.send(market(OURS, Side.BUY, 3, OrderStatus.CANCELLED))
    assert [c.contract_id for c in closes(out)] == [MNQ]  # the next, for the 2 open now


def test_a_close_refused_at_flat_ends_and_the_next_position_is_closed() -> None:
    d = locked_short_3()
    d.send(*own_buy_3())
    d.send(EnforcementRejected(ACC, MNQ, None, "No open position", overtaken=True))
    assert not d.acct.contracts[MNQ].close_in_flight
    out = d.send(*sells_2())
    assert [c.contract_id for c in closes(out)] == [MNQ]


def test_a_close_never_seen_is_given_up_at_its_timeout_once_flat() -> None:
    d = locked_short_3()
    d.send(*own_buy_3())
    d.advance(seconds=11)  # past the close timeout (10 s): nothing of ours works, per all we know
    assert not d.acct.contracts[MNQ].close_in_flight
    assert d.acct.contracts[MNQ].state is not State.Flattening
    out = d.send(*sells_2())
    assert [c.contract_id for c in closes(out)] == [MNQ]


def test_the_next_breach_reads_the_gateway_and_closes_once_it_shows_none_of_ours() -> None:
    """Not a wait for the timeout: the gateway's word, read at once, says the first is done
    (its records lost or not yet here), and the next close goes on it."""
    d = locked_short_3()
    d.send(*own_buy_3())
    out = d.send(*sells_2())
    assert closes(out) == [] and {r.contract_id for r in reads(out)} == {MNQ}
    out = gateway_read(d, position(MNQ, 2, "21000", long=False))
    assert [c.contract_id for c in closes(out)] == [MNQ]


def test_the_read_that_lists_our_close_still_working_withdraws_it() -> None:
    d = locked_short_3()
    d.send(*own_buy_3())
    d.send(*sells_2())
    out = gateway_read(
        d, position(MNQ, 2, "21000", long=False), market(OURS, Side.BUY, 3, OrderStatus.OPEN)
    )
    assert closes(out) == []
    assert [(c.order_id, c.reason) for c in cancels(out)] == [(OURS, Reason.CLOSE_WITHDRAWN)]
