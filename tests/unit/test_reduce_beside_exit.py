"""Our reduce and the trader's own market exit working side by side never leave the account
with a position our order opened on the other side.

Reported: long 5 MNQ against a limit of 3 (RULE-002), our reduce (sell 2) held 3 s by the
gateway; the trader sent sell 5 (the SDK's close_position) while it worked. Both filled and
the account was short 2, in Trading, nothing logged. Ours is withdrawn as soon as the exit is
seen; when both fill anyway, what ours opened is closed at once, with a CRITICAL alert."""

from __future__ import annotations

from fsm_risk.core.effects import ClosePosition, Level
from fsm_risk.core.events import EnforcementAccepted, OrderStatus, OrderType, OrderUpdate, Side
from fsm_risk.core.reasons import Reason
from fsm_risk.core.states import State
from fsm_risk.rules.max_contracts_per_instrument import MaxContractsPerInstrument
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
    make_engine,
    market,
    position,
    quote,
    reduces,
)

OURS, EXIT = 70, 71


def reducing() -> Driver:
    """Long 5 against a limit of 3: our reduce of 2 is working at the gateway."""
    d = Driver(make_engine({MaxContractsPerInstrument: {"limits": "MNQ: 3", "default_limit": "5"}}))
    d.send(account(), quote(MNQ, "21000"))
    d.send(
        market(60, Side.BUY, 5, OrderStatus.FILLED, volume=5),
        fill(MNQ, Side.BUY, 5, "21000", order_id=60),
    )
    [r] = reduces(d.send(position(MNQ, 5, "21000")))
    assert r.size == 2
    d.send(EnforcementAccepted(ACC, MNQ, OURS), market(OURS, Side.SELL, 2, OrderStatus.OPEN))
    return d


def overshot(out: list) -> list[str]:
    return [
        a.message
        for a in alerts(out)
        if a.reason is Reason.CLOSE_OVERSHOT and a.level is Level.CRITICAL
    ]


def test_the_traders_exit_seen_working_beside_our_reduce_withdraws_ours() -> None:
    d = reducing()
    out = d.send(market(EXIT, Side.SELL, 5, OrderStatus.OPEN))
    assert [(c.order_id, c.reason) for c in cancels(out)] == [(OURS, Reason.CLOSE_WITHDRAWN)]
    # ours cancelled: nothing goes beside the exit while it works
    out = d.send(market(OURS, Side.SELL, 2, OrderStatus.CANCELLED))
    out += d.advance(seconds=2)
    assert reduces(out) == closes(out) == []
    out = d.send(
        market(EXIT, Side.SELL, 5, OrderStatus.FILLED, volume=5),
        fill(MNQ, Side.SELL, 5, "21000", pnl="0", order_id=EXIT),
        flat(MNQ),
    )
    assert reduces(out) == closes(out) == [] and overshot(out) == []
    assert d.acct.contracts[MNQ].state is State.Trading


def test_a_smaller_exit_beside_our_reduce_that_would_take_it_past_the_target_withdraws_ours() -> (
    None
):
    d = reducing()
    out = d.send(market(EXIT, Side.SELL, 1, OrderStatus.OPEN))  # 5 - 1 - 2 = 2 < 3
    assert [c.order_id for c in cancels(out)] == [OURS]


def test_an_exit_on_the_opening_side_does_not_withdraw_ours() -> None:
    d = reducing()
    assert cancels(d.send(market(EXIT, Side.BUY, 1, OrderStatus.OPEN))) == []


def test_both_filled_our_fill_last_closes_what_ours_opened_at_once() -> None:
    d = reducing()
    d.send(market(EXIT, Side.SELL, 5, OrderStatus.OPEN))  # ours withdrawn: too late
    d.send(
        market(EXIT, Side.SELL, 5, OrderStatus.FILLED, volume=5),
        fill(MNQ, Side.SELL, 5, "21000", pnl="0", order_id=EXIT),
    )
    out = d.send(
        market(OURS, Side.SELL, 2, OrderStatus.FILLED, volume=2),
        fill(MNQ, Side.SELL, 2, "21000", order_id=OURS),
    )
    [msg] = overshot(out)
    assert MNQ in msg and "opened 2" in msg and "short 2 held" in msg and "closing the 2" in msg
    out += d.send(position(MNQ, 2, "21000", long=False))
    assert [c.contract_id for c in closes(out)] == [MNQ]
    # our close fills: flat, and nothing more
    [c] = closes(out)
    d.send(EnforcementAccepted(ACC, MNQ, 72), market(72, Side.BUY, 2, OrderStatus.OPEN))
    out = d.send(
        market(72, Side.BUY, 2, OrderStatus.FILLED, volume=2),
        fill(MNQ, Side.BUY, 2, "21000", order_id=72),
        flat(MNQ),
    )
    out += d.advance(seconds=30)
    assert closes(out) == reduces(out) == [] and overshot(out) == []
    assert d.acct.contracts[MNQ].state is State.Trading
    assert isinstance(c, ClosePosition)


def test_both_filled_our_fill_first_closes_what_ours_opened_at_once() -> None:
    d = reducing()
    d.send(market(EXIT, Side.SELL, 5, OrderStatus.OPEN))
    out = d.send(
        market(OURS, Side.SELL, 2, OrderStatus.FILLED, volume=2),
        fill(MNQ, Side.SELL, 2, "21000", pnl="0", order_id=OURS),
        position(MNQ, 3, "21000"),
    )
    assert overshot(out) == []
    out = d.send(
        market(EXIT, Side.SELL, 5, OrderStatus.FILLED, volume=5),
        fill(MNQ, Side.SELL, 5, "21000", pnl="0", order_id=EXIT),
        position(MNQ, 2, "21000", long=False),
    )
    [msg] = overshot(out)
    assert "opened 2" in msg and "short 2 held" in msg
    assert [c.contract_id for c in closes(out)] == [MNQ]


def test_a_reversal_the_trader_sent_beside_ours_keeps_what_he_asked_for() -> None:
    """Long 5, ours sells 2; the trader sends sell 7 (to be short 2) beside it: both fill,
    short 4. Ours opened 2 of them: reduced to short 2, his own reversal."""
    d = reducing()
    d.send(market(EXIT, Side.SELL, 7, OrderStatus.OPEN))
    d.send(
        market(OURS, Side.SELL, 2, OrderStatus.FILLED, volume=2),
        fill(MNQ, Side.SELL, 2, "21000", pnl="0", order_id=OURS),
        position(MNQ, 3, "21000"),
    )
    out = d.send(
        market(EXIT, Side.SELL, 7, OrderStatus.FILLED, volume=7),
        fill(MNQ, Side.SELL, 7, "21000", pnl="0", order_id=EXIT),
        position(MNQ, 4, "21000", long=False),
    )
    [msg] = overshot(out)
    assert "opened 2" in msg and "short 4 held" in msg
    assert [(r.contract_id, r.size) for r in reduces(out)] == [(MNQ, 2)]
    assert closes(out) == []


def test_a_reversal_placed_after_our_reduce_filled_is_the_traders_own() -> None:
    d = reducing()
    d.send(
        market(OURS, Side.SELL, 2, OrderStatus.FILLED, volume=2),
        fill(MNQ, Side.SELL, 2, "21000", pnl="0", order_id=OURS),
        position(MNQ, 3, "21000"),
    )
    assert d.acct.contracts[MNQ].state is State.Trading
    out = d.send(
        market(EXIT, Side.SELL, 5, OrderStatus.OPEN),
        market(EXIT, Side.SELL, 5, OrderStatus.FILLED, volume=5),
        fill(MNQ, Side.SELL, 5, "21000", pnl="0", order_id=EXIT),
        position(MNQ, 2, "21000", long=False),
    )
    out += d.advance(seconds=30)
    assert overshot(out) == [] and closes(out) == reduces(out) == []


def test_a_close_of_an_overshoot_that_overshoots_in_turn_is_alerted_not_closed_again() -> None:
    d = reducing()
    d.send(
        market(EXIT, Side.SELL, 5, OrderStatus.OPEN),
        market(EXIT, Side.SELL, 5, OrderStatus.FILLED, volume=5),
        fill(MNQ, Side.SELL, 5, "21000", pnl="0", order_id=EXIT),
        market(OURS, Side.SELL, 2, OrderStatus.FILLED, volume=2),
        fill(MNQ, Side.SELL, 2, "21000", order_id=OURS),
    )
    out = d.send(position(MNQ, 2, "21000", long=False))
    assert len(closes(out)) == 1
    # the trader buys 2 himself while our close of the overshoot works: both fill, long 2
    d.send(EnforcementAccepted(ACC, MNQ, 72), market(72, Side.BUY, 2, OrderStatus.OPEN))
    out = d.send(
        market(73, Side.BUY, 2, OrderStatus.FILLED, volume=2),
        fill(MNQ, Side.BUY, 2, "21000", pnl="0", order_id=73),
        market(72, Side.BUY, 2, OrderStatus.FILLED, volume=2),
        fill(MNQ, Side.BUY, 2, "21000", order_id=72),
        position(MNQ, 2, "21000"),
    )
    out += d.advance(seconds=30)
    [msg] = overshot(out)
    assert "not closed again" in msg and "long 2 held" in msg
    assert closes(out) == reduces(out) == []
    assert d.acct.contracts[MNQ].state is State.Trading


def test_the_same_whichever_of_the_two_fills_comes_first() -> None:
    d = reducing()
    d.send(
        market(EXIT, Side.SELL, 5, OrderStatus.OPEN),
        market(EXIT, Side.SELL, 5, OrderStatus.FILLED, volume=5),
        fill(MNQ, Side.SELL, 5, "21000", pnl="0", order_id=EXIT),
        market(OURS, Side.SELL, 2, OrderStatus.FILLED, volume=2),
        fill(MNQ, Side.SELL, 2, "21000", order_id=OURS),
    )
    assert len(closes(d.send(position(MNQ, 2, "21000", long=False)))) == 1
    d.send(EnforcementAccepted(ACC, MNQ, 72), market(72, Side.BUY, 2, OrderStatus.OPEN))
    out = d.send(  # ours first this time, the trader's buy (working beside it) after
        market(73, Side.BUY, 2, OrderStatus.OPEN),
        market(72, Side.BUY, 2, OrderStatus.FILLED, volume=2),
        fill(MNQ, Side.BUY, 2, "21000", order_id=72),
        market(73, Side.BUY, 2, OrderStatus.FILLED, volume=2),
        fill(MNQ, Side.BUY, 2, "21000", pnl="0", order_id=73),
        position(MNQ, 2, "21000"),
    )
    out += d.advance(seconds=30)
    [msg] = overshot(out)
    assert "not closed again" in msg
    assert closes(out) == reduces(out) == []


def test_a_reversing_market_order_of_the_traders_holds_our_reduce_back_like_an_exit() -> None:
    """Long 5, ours sells 2; the trader sends sell 7 (a reversal of his own). Ours is
    withdrawn, and no reduce goes again beside his order while it works (both filled, ours
    would take his short 2 to short 4): it is given the close timeout like any exit."""
    d = reducing()
    out = d.send(market(EXIT, Side.SELL, 7, OrderStatus.OPEN))
    assert [c.order_id for c in cancels(out)] == [OURS]
    out = d.send(market(OURS, Side.SELL, 2, OrderStatus.CANCELLED))
    for _ in range(4):
        out += d.advance(seconds=1)
    assert reduces(out) == closes(out) == []
    out = d.send(
        market(EXIT, Side.SELL, 7, OrderStatus.FILLED, volume=7),
        fill(MNQ, Side.SELL, 7, "21000", pnl="0", order_id=EXIT),
        position(MNQ, 2, "21000", long=False),
    )
    out += d.advance(seconds=30)
    assert reduces(out) == closes(out) == [] and overshot(out) == []
    assert d.acct.contracts[MNQ].state is State.Trading


def test_a_resting_order_the_trader_makes_larger_after_ours_filled_is_his_own_reversal() -> None:
    """Long 5, limit 3, our reduce of 2 working; the trader's take-profit sell 3 rests. Ours
    fills (long 3); seeing it, he changes his take-profit to sell 6, to be short 3. It fills:
    short 3, all his own. It was counted as working beside ours, and 2 of his short 3 were
    closed as opened by our reduce (CLOSE_OVERSHOT)."""
    from tests.factories import ACC

    def take_profit(
        size: int, status: OrderStatus = OrderStatus.OPEN, volume: int = 0
    ) -> OrderUpdate:
        return OrderUpdate(
            ACC, 80, MNQ, status, OrderType.LIMIT, Side.SELL, size, T0, fill_volume=volume
        )

    d = reducing()
    d.send(take_profit(3))
    d.send(
        market(OURS, Side.SELL, 2, OrderStatus.FILLED, volume=2),
        fill(MNQ, Side.SELL, 2, "21000", pnl="0", order_id=OURS),
        position(MNQ, 3, "21000"),
    )
    d.send(take_profit(6))  # his change, after ours filled
    out = d.send(
        take_profit(6, OrderStatus.FILLED, volume=6),
        fill(MNQ, Side.SELL, 6, "21100", pnl="0", order_id=80),
        position(MNQ, 3, "21100", long=False),
    )
    out += d.advance(seconds=30)
    assert overshot(out) == [] and reduces(out) == closes(out) == [], overshot(out)
