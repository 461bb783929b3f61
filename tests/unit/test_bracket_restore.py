"""A resize of the trader's order holds only while the reduce it was made for is on its way
or done.

Long 5 MNQ with a sell stop of 5, RULE-001 at 3: the reduce of 2 and the stop's resize to 3
go together. The gateway refuses the reduce (a maintenance break, a market closed) but takes
the resize: 5 held, the stop covering 3. Reached, it would leave 2 contracts open with no
stop. So when our reduce ends without reducing as far as it meant, each order we shrank for
it is resized back up, to what the position holds, never above its own size before our
resize; and the next reduce resizes it again."""

from __future__ import annotations

from dataclasses import replace
from functools import partial

from fsm_risk.core.effects import Effect, Level, ResizeOrder
from fsm_risk.core.events import EnforcementRejected, OrderStatus, OrderType, OrderUpdate, Side
from fsm_risk.core.reasons import Reason
from fsm_risk.rules.max_contracts import MaxContracts
from tests.factories import (
    ACC,
    MNQ,
    alerts,
    cancels,
    fill,
    order,
    position,
    reduces,
    restart,
    rule_driver,
    rule_engine,
    start_up_read,
)

driver = partial(rule_driver, MaxContracts, limit="3")
STOP, TAKE = 11, 12
REFUSED = "Market is closed"


def resizes(effects: list[Effect]) -> list[tuple[int, int, int]]:
    return [(e.order_id, e.was, e.size) for e in effects if isinstance(e, ResizeOrder)]


def stop(order_id: int, size: int, price: str = "20900") -> OrderUpdate:
    return order(order_id, MNQ, Side.SELL, size, type=OrderType.STOP, stop=price)


def refused(overtaken: bool = False) -> EnforcementRejected:
    return EnforcementRejected(ACC, MNQ, None, REFUSED, overtaken=overtaken)


def test_a_refused_reduce_gives_the_stop_back_what_the_position_still_holds() -> None:
    d = driver()
    d.send(stop(STOP, 5))
    out = d.send(position(MNQ, 5, "21000"))
    assert [r.size for r in reduces(out)] == [2]
    assert resizes(out) == [(STOP, 5, 3)]
    d.send(stop(STOP, 3))  # the gateway took the resize...
    out = d.send(refused())  # ...and refused the reduce: 5 held, the stop covering 3
    assert (d.acct.positions[MNQ].size, d.acct.orders[STOP].size) == (5, 3)
    assert resizes(out) == [(STOP, 3, 5)]  # (the old code left it so, 2 without a stop)
    r = next(e for e in out if isinstance(e, ResizeOrder))
    assert (r.reason, r.label, r.rule_id) == (Reason.ORDER_RESTORED, "sell stop", "RULE-001")
    [a] = [a for a in alerts(out) if a.reason is Reason.ORDER_RESTORED]
    assert a.level is Level.WARNING and a.contract_id == MNQ
    assert f"sell stop order {STOP} 3 -> 5" in a.message and REFUSED not in a.message
    # the reduce goes again after its backoff, and the resize with it
    d.send(stop(STOP, 5))
    out = d.advance(seconds=2)
    assert [r.size for r in reduces(out)] == [2]
    assert resizes(out) == [(STOP, 5, 3)]


def test_a_refusal_heard_before_the_resize_restores_once_the_resize_is_in_place() -> None:
    d = driver()
    d.send(stop(STOP, 5))
    d.send(position(MNQ, 5, "21000"))
    out = d.send(refused())  # the resize not heard of yet: it may still be on its way
    assert resizes(out) == []
    out = d.send(stop(STOP, 3))  # now it is in place, and the reduce is not
    assert resizes(out) == [(STOP, 3, 5)]
    assert resizes(d.send(position(MNQ, 5, "21000"))) == []  # on its way: not sent twice
    d.send(stop(STOP, 5))
    assert d.acct.orders[STOP].size == 5


def test_a_reduce_that_filled_leaves_the_resize_alone() -> None:
    d = driver()
    d.send(stop(STOP, 5))
    d.send(position(MNQ, 5, "21000"))
    d.send(stop(STOP, 3))
    d.send(order(99, MNQ, Side.SELL, 2, type=OrderType.MARKET))  # our reduce's order
    out = d.send(
        fill(MNQ, Side.SELL, 2, "21000", order_id=99),
        order(99, MNQ, Side.SELL, 2, type=OrderType.MARKET, status=OrderStatus.FILLED),
        position(MNQ, 3, "21000"),
    )
    out += d.advance(seconds=60)
    assert resizes(out) == []
    assert d.acct.orders[STOP].resized_from is None  # done: the memory goes
    # the trader adds later (a looser limit by then): the stop of 3 is theirs to mind
    out = d.send(position(MNQ, 3, "21000"), stop(STOP, 3))
    assert resizes(out) == []


def test_our_close_order_cancelled_unfilled_restores_the_stop() -> None:
    d = driver()
    d.send(stop(STOP, 5))
    d.send(position(MNQ, 5, "21000"))
    d.send(stop(STOP, 3))
    d.send(order(99, MNQ, Side.SELL, 2, type=OrderType.MARKET))
    out = d.send(order(99, MNQ, Side.SELL, 2, type=OrderType.MARKET, status=OrderStatus.REJECTED))
    assert resizes(out) == [(STOP, 3, 5)]


def test_a_partial_fill_restores_only_to_what_is_held_never_above_the_position() -> None:
    d = driver()
    d.send(stop(STOP, 5))
    d.send(position(MNQ, 5, "21000"))
    d.send(stop(STOP, 3))
    d.send(order(99, MNQ, Side.SELL, 2, type=OrderType.MARKET))
    out = d.send(
        fill(MNQ, Side.SELL, 1, "21000", order_id=99),
        position(MNQ, 4, "21000"),
        replace(
            order(99, MNQ, Side.SELL, 2, type=OrderType.MARKET, status=OrderStatus.CANCELLED),
            fill_volume=1,
        ),
    )
    # 4 held, 1 over: the next reduce goes at once, the stop of 3 in force for it
    assert [r.size for r in reduces(out)] == [1]
    assert resizes(out) == []
    out = d.send(refused())
    assert resizes(out) == [(STOP, 3, 4)]  # what is held, not the 5 it was


def test_an_exit_in_parts_is_given_back_together_never_more_than_the_position() -> None:
    d = driver()
    d.send(stop(STOP, 2, "20900"), stop(14, 3, "20800"))
    out = d.send(position(MNQ, 5, "21000"))
    assert resizes(out) == [(14, 3, 1)]
    d.send(stop(14, 1, "20800"))
    out = d.send(refused())
    assert resizes(out) == [(14, 1, 3)]
    assert "order 14" in next(a for a in alerts(out) if a.reason is Reason.ORDER_RESTORED).message


def test_the_original_size_survives_a_restart() -> None:
    d = driver()
    d.send(stop(STOP, 5))
    d.send(position(MNQ, 5, "21000"))
    d.send(stop(STOP, 3))
    d = restart(d, lambda: rule_engine(MaxContracts, limit="3"))
    assert d.acct.orders[STOP].resized_from == 5
    out = start_up_read(d, stop(STOP, 3), position(MNQ, 5, "21000"))
    assert [r.size for r in reduces(out)] == [2]  # the reduce goes again, the stop still 3
    out = d.send(refused())
    assert resizes(out) == [(STOP, 3, 5)]


def test_a_refused_restore_alerts_naming_the_order() -> None:
    d = driver()
    d.send(stop(STOP, 5))
    d.send(position(MNQ, 5, "21000"))
    d.send(stop(STOP, 3))
    d.send(refused())
    out = d.send(EnforcementRejected(ACC, MNQ, STOP, "Order is locked", resize=5, was=3))
    [a] = alerts(out)
    assert (a.level, a.reason) == (Level.CRITICAL, Reason.CLOSE_REJECTED)
    assert f"sell stop order {STOP} in {MNQ} (3 contracts) could not be resized back to 5" in (
        a.message
    )
    assert resizes(out) == [] and cancels(out) == []


def test_a_restore_refused_because_the_order_is_done_is_a_lost_race() -> None:
    d = driver()
    d.send(stop(STOP, 5))
    d.send(position(MNQ, 5, "21000"))
    d.send(stop(STOP, 3))
    d.send(refused())
    d.send(stop(STOP, 5))
    out = d.send(EnforcementRejected(ACC, MNQ, STOP, "x", overtaken=True, resize=5, was=3))
    assert [(a.level, a.reason) for a in alerts(out)] == [(Level.INFO, Reason.OVERTAKEN)]


def test_a_word_sent_before_the_gateway_took_the_resize_is_not_its_answer() -> None:
    """Seen against the paper gateway: the bracket's stop made live (a word at 5) after the
    resize was sent, before the gateway took it; the refusal of the reduce then came, and
    the stop's word at 3 last. The resize is on its way until the stop shows another size."""
    d = driver()
    d.send(order(STOP, MNQ, Side.SELL, 5, type=OrderType.STOP, status=OrderStatus.SUSPENDED))
    out = d.send(position(MNQ, 5, "21000"))
    assert resizes(out) == [(STOP, 5, 3)]
    out = d.send(stop(STOP, 5))  # made live: still the size it was asked from
    assert resizes(out) == [] and d.acct.orders[STOP].resize_to == 3
    out = d.send(refused())
    assert resizes(out) == []  # the resize is not in place yet
    out = d.send(stop(STOP, 3))
    assert resizes(out) == [(STOP, 3, 5)]


def test_a_size_given_back_but_lost_in_a_restart_is_given_back_again() -> None:
    """The service stopped after deciding the stop goes back to 5, before the gateway took
    it: the restart reads the stop at 3, and the size before is still known."""
    d = driver()
    d.send(stop(STOP, 5))
    d.send(position(MNQ, 5, "21000"))
    d.send(stop(STOP, 3))
    assert resizes(d.send(refused())) == [(STOP, 3, 5)]
    d = restart(d, lambda: rule_engine(MaxContracts, limit="3"))
    assert d.acct.orders[STOP].resized_from == 5
    # (what the engine decides before the gateway is read is held back by the shell)
    out = start_up_read(d, stop(STOP, 3), position(MNQ, 5, "21000"))  # still 3
    assert [r.size for r in reduces(out)] == [2]
    out = d.send(refused())
    assert resizes(out) == [(STOP, 3, 5)]
    d.send(stop(STOP, 5))
    d.send(position(MNQ, 5, "21000"))
    assert d.acct.orders[STOP].resized_from is None  # given back and in place: forgotten


def test_a_restore_refused_is_not_sent_again() -> None:
    d = driver()
    d.send(stop(STOP, 5))
    d.send(position(MNQ, 5, "21000"))
    d.send(stop(STOP, 3))
    d.send(refused())
    d.send(EnforcementRejected(ACC, MNQ, STOP, "Order is locked", resize=5, was=3))
    assert resizes(d.send(position(MNQ, 5, "21000"))) == []


def test_a_resize_decided_before_the_restart_read_is_sent_with_the_next_reduce() -> None:
    """What the engine decides before the gateway's working orders are known is held back by
    the shell, the resizes too: none is on its way when the read comes."""
    d = driver()
    d.send(stop(STOP, 5))
    d.send(position(MNQ, 5, "21000"))  # the reduce and the resize decided; the service stops
    d = restart(d, lambda: rule_engine(MaxContracts, limit="3"))
    out = start_up_read(d, stop(STOP, 5), position(MNQ, 5, "21000"))
    assert [r.size for r in reduces(out)] == [2]
    assert resizes(out) == [(STOP, 5, 3)]


def test_the_reduce_waits_a_second_after_a_size_given_back() -> None:
    """The refusal heard first, the resize's word just before the reduce is due again: the
    size given back and the next resize would race to the gateway, so the reduce waits."""
    d = driver()
    d.send(stop(STOP, 5))
    d.send(position(MNQ, 5, "21000"))
    d.send(refused())  # due again in a second
    d.advance(seconds=0.9)
    assert resizes(d.send(stop(STOP, 3))) == [(STOP, 3, 5)]
    out = d.advance(seconds=0.5)  # past the first due time: not yet
    assert reduces(out) == []
    out = d.send(stop(STOP, 5)) + d.advance(seconds=0.6)
    assert [r.size for r in reduces(out)] == [2] and resizes(out) == [(STOP, 5, 3)]


def test_the_size_given_back_seen_late_does_not_end_the_next_reduces_resize() -> None:
    """The stop given back (3 -> 5) after a refused reduce; a second later the reduce goes
    again with its resize 5 -> 3. The gateway's word at 5 (the size given back) comes only
    then: it answers the restore, not the resize sent after it. Taken as that resize's answer,
    the refused reduce then found nothing on its way and forgot the size before, and the 5 -> 3
    landing left 5 held beside a stop of 3, never given back."""
    d = driver()
    d.send(stop(STOP, 5))
    d.send(position(MNQ, 5, "21000"))
    d.send(stop(STOP, 3))  # the first resize in place
    assert resizes(d.send(refused())) == [(STOP, 3, 5)]  # the reduce refused: given back
    out = d.advance(seconds=2)  # the reduce again, its resize with it
    assert [r.size for r in reduces(out)] == [2] and resizes(out) == [(STOP, 5, 3)]
    d.send(stop(STOP, 5))  # the size given back, heard late
    assert d.acct.orders[STOP].resize_to == 3  # the resize to 3 still on its way
    d.send(refused())  # the reduce refused again (the market still closed)
    out = d.send(stop(STOP, 3))  # the 5 -> 3 lands
    assert resizes(out) == [(STOP, 3, 5)]  # given back again at once: 5 held, a stop of 5


def test_two_resizes_taken_with_only_the_last_word_heard_are_done_after_a_while() -> None:
    """Given back (3 -> 5), then the next reduce's 5 -> 3: the gateway takes both, and the
    word at 5 is lost (a hub drop): the one heard shows 3, the size the word before showed,
    which is no answer. Both resizes stayed on their way for good: the reduce refused again,
    the stop was never given back (5 held beside a stop of 3). Unanswered for `RESIZE_WAIT`,
    the order is taken at its last word's size: the stop is given back."""
    d = driver()
    d.send(stop(STOP, 5))
    d.send(position(MNQ, 5, "21000"))
    d.send(stop(STOP, 3))  # the first resize in place
    assert resizes(d.send(refused())) == [(STOP, 3, 5)]
    out = d.advance(seconds=2)  # the reduce again, with 5 -> 3
    assert resizes(out) == [(STOP, 5, 3)]
    d.send(stop(STOP, 3))  # both taken: this word only
    given: list[tuple[int, int, int]] = []
    for _ in range(10):  # the market still closed: every reduce refused
        out = d.send(refused()) + d.advance(seconds=3)
        given += [r for r in resizes(out) if r == (STOP, 3, 5)]
    assert given  # given back: 5 held, the stop at 5 again


def test_after_a_lost_word_the_next_reduce_still_resizes_the_traders_stop() -> None:
    """The same lost word, then the reduce goes through (3 held, the stop at 3); later the
    trader adds 2 and moves the stop to 5 themselves. RULE-001's next reduce to 3 must
    resize that stop to 3: with the old resize still counted on its way (at 3), none was
    sent, and the stop of 5 beside 3 held would leave the account short 2 once reached."""
    d = driver()
    d.send(stop(STOP, 5))
    d.send(position(MNQ, 5, "21000"))
    d.send(stop(STOP, 3))
    d.send(refused())
    d.advance(seconds=2)  # the reduce again, with 5 -> 3
    d.send(stop(STOP, 3))  # both taken; the word at 5 lost
    d.send(order(99, MNQ, Side.SELL, 2, type=OrderType.MARKET))  # our reduce's order
    d.send(
        fill(MNQ, Side.SELL, 2, "21000", order_id=99),
        order(99, MNQ, Side.SELL, 2, type=OrderType.MARKET, status=OrderStatus.FILLED),
        position(MNQ, 3, "21000"),
    )
    d.advance(seconds=60)
    assert (d.acct.positions[MNQ].size, d.acct.orders[STOP].size) == (3, 3)
    # the trader adds 2, stop to 5
    out = d.send(stop(STOP, 5), fill(MNQ, Side.BUY, 2, "21000", order_id=98))
    out += d.send(position(MNQ, 5, "21000"))
    out += d.advance(seconds=1)
    assert [r.size for r in reduces(out)] == [2]
    assert resizes(out) == [(STOP, 5, 3)]
