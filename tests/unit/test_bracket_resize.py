"""A reduce of ours resizes the trader's protective orders it leaves larger than the position.

Long 5 MNQ with a sell stop of 5 and a take-profit of 5, reduced to 3 by RULE-001: the
gateway leaves both orders at 5, and the stop, reached, would sell 5 and leave the account
short 2. So both go to 3 in the same batch as the reduce (the stop still protects the 3)."""

from __future__ import annotations

from functools import partial

from fsm_risk.core.effects import Effect, Level, ReducePosition, ResizeOrder
from fsm_risk.core.events import (
    EnforcementAccepted,
    EnforcementRejected,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Side,
)
from fsm_risk.core.reasons import Reason
from fsm_risk.rules.max_contracts import MaxContracts
from fsm_risk.rules.max_contracts_per_instrument import MaxContractsPerInstrument
from tests.factories import (
    ACC,
    MNQ,
    NQ,
    alerts,
    cancels,
    closes,
    fill,
    order,
    position,
    quote,
    reduces,
    rule_driver,
)

driver = partial(rule_driver, MaxContracts, limit="3")
STOP, TAKE = 11, 12


def resizes(effects: list[Effect]) -> list[tuple[int, int, int, str]]:
    return [(e.order_id, e.was, e.size, e.label) for e in effects if isinstance(e, ResizeOrder)]


def stop(order_id: int, contract: str, side: Side, size: int, price: str) -> OrderUpdate:
    return order(order_id, contract, side, size, type=OrderType.STOP, stop=price)


def test_a_reduce_resizes_the_traders_stop_and_take_profit_to_what_remains() -> None:
    d = driver()
    d.send(
        stop(STOP, MNQ, Side.SELL, 5, "20900"),
        order(TAKE, MNQ, Side.SELL, 5, limit="21100"),
    )
    out = d.send(position(MNQ, 5, "21000"))
    assert [(r.contract_id, r.size) for r in reduces(out)] == [(MNQ, 2)]
    assert resizes(out) == [(STOP, 5, 3, "sell stop"), (TAKE, 5, 3, "sell limit")]
    # in the same batch, right after the reduce (the shell sends them in this order)
    kinds = [type(e) for e in out if isinstance(e, ReducePosition | ResizeOrder)]
    assert kinds == [ReducePosition, ResizeOrder, ResizeOrder]
    r = next(e for e in out if isinstance(e, ResizeOrder))
    assert (r.account_id, r.contract_id, r.rule_id, r.reason) == (
        ACC,
        MNQ,
        "RULE-001",
        Reason.ORDER_RESIZED,
    )
    assert cancels(out) == []  # resized, never cancelled: the 3 stay protected


def test_an_order_larger_than_the_position_keeps_its_excess_and_no_more() -> None:
    """A stop of 7 beside a long 5 was the trader's choice: reached, it leaves him short 2.
    Left at 7 after our reduce to 3 (the old code left it alone), it would leave him short
    4, 2 of them our reduce's doing: it goes to 5, short 2 as before. The take-profit of 3
    fits what remains: untouched."""
    d = driver()
    d.send(
        stop(STOP, MNQ, Side.SELL, 7, "20900"),
        order(TAKE, MNQ, Side.SELL, 3, limit="21100"),  # exactly what remains
    )
    out = d.send(position(MNQ, 5, "21000"))
    assert [r.size for r in reduces(out)] == [2]
    assert resizes(out) == [(STOP, 7, 5, "sell stop")]


def test_a_larger_stop_with_no_reduce_in_play_is_the_traders_choice() -> None:
    d = driver(limit="5")
    d.send(stop(STOP, MNQ, Side.SELL, 7, "20900"))
    out = d.send(position(MNQ, 5, "21000"))
    assert reduces(out) == [] and resizes(out) == []


def test_an_exit_in_parts_is_cut_to_what_remains_together_the_farthest_part_first() -> None:
    """A long 5 with two targets (2 at 21100, 3 at 21200) and two stops (2 at 20900, 3 at
    20800) exits in parts: each part fits what remains after a reduce to 3, but both filled
    would sell 5 and leave the account short 2. Each group is cut to 3 together, the part
    that fills last (the farthest from the price) giving first."""
    d = driver()
    d.send(
        order(TAKE, MNQ, Side.SELL, 2, limit="21100"),
        order(13, MNQ, Side.SELL, 3, limit="21200"),
        stop(STOP, MNQ, Side.SELL, 2, "20900"),
        stop(14, MNQ, Side.SELL, 3, "20800"),
    )
    out = d.send(position(MNQ, 5, "21000"))
    assert [r.size for r in reduces(out)] == [2]
    assert resizes(out) == [(14, 3, 1, "sell stop"), (13, 3, 1, "sell limit")]
    assert cancels(out) == []


def test_a_part_left_with_nothing_is_cancelled() -> None:
    d = driver(limit="1")
    d.send(
        order(TAKE, MNQ, Side.SELL, 2, limit="21100"),
        order(13, MNQ, Side.SELL, 3, limit="21200"),
    )
    out = d.send(position(MNQ, 5, "21000"))
    assert [r.size for r in reduces(out)] == [4]
    assert resizes(out) == [(TAKE, 2, 1, "sell limit")]
    assert [(c.order_id, c.reason) for c in cancels(out)] == [(13, Reason.ORDER_RESIZED)]
    again = d.send(position(MNQ, 5, "21000"))  # both on their way: nothing sent twice
    assert resizes(again) == [] and cancels(again) == []


def test_a_short_exit_in_parts_gives_from_the_highest_stop_and_the_lowest_target() -> None:
    d = driver()
    d.send(
        stop(STOP, MNQ, Side.BUY, 3, "21200"),
        stop(14, MNQ, Side.BUY, 2, "21100"),
        order(TAKE, MNQ, Side.BUY, 3, limit="20800"),
        order(13, MNQ, Side.BUY, 2, limit="20900"),
    )
    out = d.send(position(MNQ, 5, "21000", long=False))
    assert resizes(out) == [(STOP, 3, 1, "buy stop"), (TAKE, 3, 1, "buy limit")]


def test_orders_on_the_opening_side_and_on_other_contracts_are_untouched() -> None:
    d = driver(limit="4")
    d.send(
        order(21, MNQ, Side.BUY, 5, limit="20800"),  # adds to the long: not ours to resize
        stop(22, NQ, Side.SELL, 5, "20900"),
        stop(STOP, MNQ, Side.SELL, 5, "20900"),
    )
    out = d.send(position(MNQ, 5, "21000"))
    assert [(r.contract_id, r.size) for r in reduces(out)] == [(MNQ, 1)]
    assert resizes(out) == [(STOP, 5, 4, "sell stop")]


def test_a_short_position_resizes_its_buy_stop() -> None:
    d = driver()
    d.send(
        stop(STOP, MNQ, Side.BUY, 5, "21100"),
        order(TAKE, MNQ, Side.SELL, 5, limit="21200"),  # the opening side of a short
    )
    out = d.send(position(MNQ, 5, "21000", long=False))
    assert [r.size for r in reduces(out)] == [2]
    assert resizes(out) == [(STOP, 5, 3, "buy stop")]


def test_rule_002_resizes_on_the_root_it_reduces_only() -> None:
    d = rule_driver(MaxContractsPerInstrument, limits="MNQ: 4, NQ: 1", default_limit="2")
    d.send(
        stop(31, NQ, Side.SELL, 3, "20900"),
        stop(32, MNQ, Side.SELL, 4, "20900"),
        position(MNQ, 4, "21000"),  # at its limit
    )
    out = d.send(position(NQ, 3, "21000"))
    assert [(r.contract_id, r.size, r.rule_id) for r in reduces(out)] == [(NQ, 2, "RULE-002")]
    assert resizes(out) == [(31, 3, 1, "sell stop")]


def test_a_full_close_resizes_nothing() -> None:
    d = driver(action="flatten")
    d.send(stop(STOP, MNQ, Side.SELL, 5, "20900"))
    out = d.send(position(MNQ, 5, "21000"))
    assert [c.contract_id for c in closes(out)] == [MNQ]
    assert resizes(out) == []


def test_a_resize_on_its_way_is_not_sent_again() -> None:
    d = driver()
    d.send(stop(STOP, MNQ, Side.SELL, 5, "20900"))
    out = d.send(position(MNQ, 5, "21000"))
    assert resizes(out) == [(STOP, 5, 3, "sell stop")]
    assert resizes(d.send(position(MNQ, 5, "21000"))) == []  # the next event: nothing more
    # the gateway refuses the reduce: it goes again a second later, and the stop, being
    # resized, is not
    out = d.send(EnforcementRejected(ACC, MNQ, None, "busy"))
    out += d.advance(seconds=1)
    assert [r.size for r in reduces(out)] == [2]
    assert resizes(out) == []
    # unanswered past RESIZE_WAIT (its word lost), the stop is taken at its last word's
    # size again: the reduce re-sent after this one resizes it again (the same size: harmless)
    out = d.send(EnforcementRejected(ACC, MNQ, None, "busy"))
    out += d.advance(seconds=30)
    assert [r.size for r in reduces(out)] == [2]
    assert resizes(out) == [(STOP, 5, 3, "sell stop")]
    # the stop's update comes back at 3: nothing over the target, nothing sent
    out = d.send(stop(STOP, MNQ, Side.SELL, 3, "20900"))
    out += d.advance(seconds=30)
    assert resizes(out) == []
    assert d.acct.orders[STOP].resize_to is None


def test_a_refused_resize_alerts_naming_the_order_and_is_not_retried() -> None:
    d = driver()
    d.send(stop(STOP, MNQ, Side.SELL, 5, "20900"))
    d.send(position(MNQ, 5, "21000"))
    out = d.send(EnforcementRejected(ACC, MNQ, STOP, "Order is locked", resize=3))
    [a] = alerts(out)
    assert (a.level, a.reason, a.contract_id) == (Level.CRITICAL, Reason.CLOSE_REJECTED, MNQ)
    assert f"sell stop order {STOP} in {MNQ}" in a.message
    assert "resize it to 3 or cancel it" in a.message and "Order is locked" in a.message
    out = d.advance(seconds=60)
    assert resizes(out) == [] and cancels(out) == []


def test_a_resize_refused_because_the_order_is_done_is_a_lost_race() -> None:
    d = driver()
    d.send(stop(STOP, MNQ, Side.SELL, 5, "20900"))
    d.send(position(MNQ, 5, "21000"))
    d.send(order(STOP, MNQ, Side.SELL, 5, type=OrderType.STOP, status=OrderStatus.CANCELLED))
    out = d.send(EnforcementRejected(ACC, MNQ, STOP, "not working", overtaken=True, resize=3))
    assert [(a.level, a.reason) for a in alerts(out)] == [(Level.INFO, Reason.OVERTAKEN)]


def test_the_order_keeps_the_new_size_once_the_gateway_says_so() -> None:
    d = driver()
    d.send(stop(STOP, MNQ, Side.SELL, 5, "20900"))
    d.send(position(MNQ, 5, "21000"))
    assert d.acct.orders[STOP].resize_to == 3
    d.send(stop(STOP, MNQ, Side.SELL, 3, "20900"), position(MNQ, 3, "21000"))
    assert (d.acct.orders[STOP].size, d.acct.orders[STOP].resize_to) == (3, None)


def test_a_bracket_child_not_yet_live_is_resized_too() -> None:
    # the gateway may report the entry's fill before it makes the bracket's children live
    d = driver()
    d.send(
        order(
            STOP, MNQ, Side.SELL, 5, type=OrderType.STOP, status=OrderStatus.SUSPENDED, stop="20900"
        )
    )
    out = d.send(position(MNQ, 5, "21000"))
    assert resizes(out) == [(STOP, 5, 3, "sell stop")]


def test_a_stop_resized_ahead_of_our_reduce_is_no_breach_of_rule_016() -> None:
    """Reported: our reduce of 1 (RULE-001) and its resize of the bracket 3 -> 2 went
    together; the resize was in place while the reduce waited 3 s to fill, RULE-016 (its
    grace long over) saw long 3 with a stop of 2 and closed the whole position."""

    from fsm_risk.core.states import State
    from fsm_risk.rules.stop_loss_required import StopLossRequired
    from tests.factories import Driver, account, make_engine

    rules = {MaxContracts: {"limit": "4"}, StopLossRequired: {"grace_seconds": "30"}}
    d = Driver(make_engine(rules))
    d.send(account(), position(MNQ, 3, "21000"), stop(STOP, MNQ, Side.SELL, 3, "20900"))
    d.advance(seconds=60)  # the grace long over, the position covered
    out = d.send(position(NQ, 2, "21000"))  # 5 > 4: MNQ (the largest) cut by 1
    assert [(r.contract_id, r.size) for r in reduces(out)] == [(MNQ, 1)]
    assert resizes(out) == [(STOP, 3, 2, "sell stop")]
    out = d.send(stop(STOP, MNQ, Side.SELL, 2, "20900"))  # the resize in place, the reduce not
    out += d.advance(seconds=5)
    assert closes(out) == [] and d.acct.contracts[MNQ].target_size == 2
    out = d.send(position(MNQ, 2, "21000"))  # the reduce filled: covered, nothing more
    assert closes(out) == [] and d.acct.contracts[MNQ].state is State.Trading


def test_a_stop_placed_while_our_reduce_works_is_cut_to_what_the_reduce_leaves() -> None:
    """Reported: long 5 MNQ against a limit of 3, our reduce of 2 held 3 s by the gateway;
    meanwhile the trader placed a sell stop of 5 (protecting the 5 he saw). The reduce
    filled, the stop stayed at 5 (nothing judged it) and, reached, sold 5: short 2. It is
    cut to 3 as soon as it is seen, and the reduce's fill changes nothing more."""
    d = rule_driver(MaxContractsPerInstrument, limits="MNQ: 3", default_limit="5")
    out = d.send(position(MNQ, 5, "21000"))
    assert [r.size for r in reduces(out)] == [2] and resizes(out) == []
    d.send(EnforcementAccepted(ACC, MNQ, 70), order(70, MNQ, Side.SELL, 2, type=OrderType.MARKET))
    out = d.send(stop(STOP, MNQ, Side.SELL, 5, "20950"))
    assert resizes(out) == [(STOP, 5, 3, "sell stop")]
    r = next(e for e in out if isinstance(e, ResizeOrder))
    assert (r.rule_id, r.reason) == ("RULE-002", Reason.ORDER_RESIZED)
    assert resizes(d.send(quote(MNQ, "21001"))) == []  # judged once, not sent twice
    # the gateway shows it at 3; the trader moves it back up to 5 while the reduce still
    # works: cut again
    assert resizes(d.send(stop(STOP, MNQ, Side.SELL, 3, "20950"))) == []
    out = d.send(stop(STOP, MNQ, Side.SELL, 5, "20940"))
    assert resizes(out) == [(STOP, 5, 3, "sell stop")]
    out = d.send(
        stop(STOP, MNQ, Side.SELL, 3, "20940"),
        order(70, MNQ, Side.SELL, 2, type=OrderType.MARKET, status=OrderStatus.FILLED),
        fill(MNQ, Side.SELL, 2, "21000", pnl="0", order_id=70),
        position(MNQ, 3, "21000"),
    )
    assert resizes(out) == [] and cancels(out) == []
    assert d.acct.orders[STOP].size == 3


def test_a_late_stop_whose_resize_is_refused_is_not_sent_again() -> None:
    d = rule_driver(MaxContractsPerInstrument, limits="MNQ: 3", default_limit="5")
    d.send(position(MNQ, 5, "21000"))
    d.send(EnforcementAccepted(ACC, MNQ, 70), order(70, MNQ, Side.SELL, 2, type=OrderType.MARKET))
    assert resizes(d.send(stop(STOP, MNQ, Side.SELL, 5, "20950"))) == [(STOP, 5, 3, "sell stop")]
    out = d.send(EnforcementRejected(ACC, MNQ, STOP, "Order is locked", resize=3))
    assert [a.reason for a in alerts(out)] == [Reason.CLOSE_REJECTED]
    assert resizes(out) == []
    assert resizes(d.send(quote(MNQ, "21001"))) == []


def test_a_stop_placed_after_our_reduce_is_done_is_the_traders_choice() -> None:
    d = rule_driver(MaxContractsPerInstrument, limits="MNQ: 3", default_limit="5")
    d.send(position(MNQ, 5, "21000"))
    d.send(
        EnforcementAccepted(ACC, MNQ, 70),
        order(70, MNQ, Side.SELL, 2, type=OrderType.MARKET, status=OrderStatus.FILLED),
        fill(MNQ, Side.SELL, 2, "21000", pnl="0", order_id=70),
        position(MNQ, 3, "21000"),
    )
    assert not d.acct.contracts[MNQ].close_in_flight
    assert resizes(d.send(stop(STOP, MNQ, Side.SELL, 5, "20950"))) == []
