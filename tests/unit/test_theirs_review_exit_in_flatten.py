"""Found by a review of bce46ce (theirs: a non-market order of the trader's that fills while we
flatten is his). Attacks: his MARKET exit sent into our RULE-002 reduce (the hunt's exploit with
the most common exit type); his limit whose fill comes before its order record; his resized (by
us) stop filling during our reduce; our own close stays ours beside his non-market order."""

from __future__ import annotations

from datetime import timedelta

import pytest

from fsm_risk.core.events import OrderStatus, OrderType, Side
from fsm_risk.core.states import State
from fsm_risk.rules.max_contracts_per_instrument import MaxContractsPerInstrument
from fsm_risk.rules.trade_cooldown import TradeCooldown
from tests.factories import (
    MNQ,
    Driver,
    account,
    fill,
    flat,
    make_engine,
    order,
    our_close_filled,
    position,
    reduces,
)

_ids = iter(range(8_900_000, 10**9))
RULES = {
    TradeCooldown: {"tiers": "500: 60"},
    MaxContractsPerInstrument: {"default_limit": "3"},
}


def _long_four_over_the_limit(d: Driver) -> None:
    d.send(account())
    d.send(fill(MNQ, Side.BUY, 3, "21000", order_id=next(_ids), at=d.now))
    d.send(position(MNQ, 3, "21000", at=d.now))
    d.now += timedelta(minutes=1)
    d.send(fill(MNQ, Side.BUY, 1, "20900", order_id=next(_ids), at=d.now))
    d.send(position(MNQ, 4, "20975", at=d.now))
    assert d.acct.contracts[MNQ].state is State.Flattening
    assert [r.size for r in reduces(d.effects)] == [1]
    d.now += timedelta(milliseconds=300)


def test_his_market_exit_of_four_beside_our_recognised_reduce_of_one_is_his() -> None:
    """Our reduce of 1 is recognised (its market order's record, size 1, came). He then sends
    a MARKET sell of 4 (the SDK's close_position): a different order id, a different size, seen
    working before its fill. It cannot be our close; his -$600 must start RULE-008."""
    d = Driver(make_engine(RULES))
    _long_four_over_the_limit(d)
    ours = next(_ids)
    d.send(order(ours, MNQ, Side.SELL, 1, type=OrderType.MARKET, status=OrderStatus.PENDING))
    assert d.acct.contracts[MNQ].close_order == ours, "our reduce recognised"
    his = next(_ids)
    kw = {"type": OrderType.MARKET, "at": d.now}
    d.send(order(his, MNQ, Side.SELL, 4, status=OrderStatus.PENDING, **kw))  # type: ignore[arg-type]
    assert his not in d.acct.own_orders
    d.send(
        order(his, MNQ, Side.SELL, 4, status=OrderStatus.FILLED, **kw),  # type: ignore[arg-type]
        fill(MNQ, Side.SELL, 4, "20900", pnl="-600", order_id=his, at=d.now),
        flat(MNQ, at=d.now),
    )
    assert not d.acct.day.fills[-1].enforcement, "his market exit booked as our close"
    assert "RULE-008" in d.acct.holds, "his -$600 market exit hidden from RULE-008"


def test_his_limit_exit_whose_fill_comes_before_its_record_is_his() -> None:
    """His sell limit of 4 into our reduce; its trade is heard before any record of the order
    (each SDK event is its own task): unknown, it is taken for our close."""
    d = Driver(make_engine(RULES))
    _long_four_over_the_limit(d)
    his = next(_ids)
    kw = {"type": OrderType.LIMIT, "limit": "20900", "at": d.now}
    d.send(
        fill(MNQ, Side.SELL, 4, "20900", pnl="-600", order_id=his, at=d.now),
        order(his, MNQ, Side.SELL, 4, status=OrderStatus.FILLED, **kw),  # type: ignore[arg-type]
        flat(MNQ, at=d.now),
    )
    assert "RULE-008" in d.acct.holds, "his -$600 limit exit hidden from RULE-008"


def test_our_close_stays_ours_beside_his_working_stop() -> None:
    """Guard: our reduce of 1 fills (its record first); his working stop of 3 stays working.
    Our fill is ours (no rule sees it) whatever his non-market orders are."""
    d = Driver(make_engine(RULES))
    stop = next(_ids)
    d.send(account())
    d.send(order(stop, MNQ, Side.SELL, 3, type=OrderType.STOP, stop="20800", at=d.now))
    d.send(fill(MNQ, Side.BUY, 3, "21000", order_id=next(_ids), at=d.now))
    d.send(position(MNQ, 3, "21000", at=d.now))
    d.now += timedelta(minutes=1)
    d.send(fill(MNQ, Side.BUY, 1, "20900", order_id=next(_ids), at=d.now))
    d.send(position(MNQ, 4, "20975", at=d.now))
    done, trade = our_close_filled(MNQ, Side.SELL, 1, "20850", pnl="-250", at=d.now)
    d.send(done, trade, position(MNQ, 3, "21000", at=d.now))
    assert d.acct.day.fills[-1].enforcement
    assert "RULE-008" not in d.acct.holds


def test_his_stop_we_resized_for_our_reduce_fills_as_his_and_ours_stays_ours() -> None:
    """Long 4 over the limit, our reduce of 1 on its way; he places a stop of 4 (it would sell
    past flat beside ours): we resize it to 3. It fills 3 at a $600 loss (his: RULE-008), our
    reduce fills 1 (ours: enforcement, no second cooldown source)."""
    from fsm_risk.core.effects import ResizeOrder

    d = Driver(make_engine(RULES))
    _long_four_over_the_limit(d)
    ours = next(_ids)
    d.send(order(ours, MNQ, Side.SELL, 1, type=OrderType.MARKET, status=OrderStatus.PENDING))
    stop = next(_ids)
    kw = {"type": OrderType.STOP, "stop": "20800", "at": d.now}
    out = d.send(order(stop, MNQ, Side.SELL, 4, **kw))  # type: ignore[arg-type]
    resized = [e for e in out if isinstance(e, ResizeOrder)]
    assert [(e.order_id, e.size) for e in resized] == [(stop, 3)]
    d.send(order(stop, MNQ, Side.SELL, 3, **kw))  # type: ignore[arg-type]
    d.send(
        order(stop, MNQ, Side.SELL, 3, status=OrderStatus.FILLED, **kw),  # type: ignore[arg-type]
        fill(MNQ, Side.SELL, 3, "20800", pnl="-1200", order_id=stop, at=d.now),
        position(MNQ, 1, "20900", at=d.now),
    )
    assert not d.acct.day.fills[-1].enforcement
    done, trade = our_close_filled(MNQ, Side.SELL, 1, "20800", pnl="-200", at=d.now)
    d.send(
        order(ours, MNQ, Side.SELL, 1, type=OrderType.MARKET, status=OrderStatus.FILLED),
        fill(MNQ, Side.SELL, 1, "20800", pnl="-200", order_id=ours, at=d.now),
        flat(MNQ, at=d.now),
    )
    del done, trade
    assert d.acct.day.fills[-1].enforcement, "our reduce's fill booked as his"
    assert "RULE-008" in d.acct.holds


@pytest.mark.parametrize("ours_last", [True, False], ids=["ours-fills-last", "his-fills-last"])
def test_his_limit_exit_of_three_beside_our_reduce_of_one_starts_the_cooldown(
    ours_last: bool,
) -> None:
    """The hunt's exploit sized to leave our reduce its contract: long 4, our reduce of 1
    working, he sells 3 by a LIMIT at 20900 (the 3 bought at 21000: -$600). Both fill. His
    fill is booked his (the fix), yet when ours fills last it closes the round trip and the
    round trip is judged by its closing fill, ours: RULE-008 never sees his -$600."""
    d = Driver(make_engine(RULES))
    _long_four_over_the_limit(d)
    ours = next(_ids)
    d.send(order(ours, MNQ, Side.SELL, 1, type=OrderType.MARKET, status=OrderStatus.PENDING))
    his = next(_ids)
    kw = {"type": OrderType.LIMIT, "limit": "20900", "at": d.now}
    d.send(order(his, MNQ, Side.SELL, 3, **kw))  # type: ignore[arg-type]

    def his_fill() -> None:
        d.send(
            order(his, MNQ, Side.SELL, 3, status=OrderStatus.FILLED, **kw),  # type: ignore[arg-type]
            fill(MNQ, Side.SELL, 3, "20900", pnl="-600", order_id=his, at=d.now),
        )

    def our_fill() -> None:
        d.send(
            order(ours, MNQ, Side.SELL, 1, type=OrderType.MARKET, status=OrderStatus.FILLED),
            fill(MNQ, Side.SELL, 1, "20900", pnl="0", order_id=ours, at=d.now),
        )

    for step in (his_fill, our_fill) if ours_last else (our_fill, his_fill):
        step()
    d.send(flat(MNQ, at=d.now))
    assert [f.enforcement for f in d.acct.day.fills[-2:] if f.order_id == his] == [False]
    assert "RULE-008" in d.acct.holds, "his -$600 limit exit hidden from RULE-008"


def test_a_losing_trip_rule_002_trimmed_minutes_before_still_counts_for_rule_011() -> None:
    """Two losing round trips, then long 3 and one more bought over RULE-002's 3: our reduce of
    1 fills at once (ours), the account is back to Trading. Ten minutes later, outside any
    flatten, he sells his 3 at a -$600 loss: his third losing round trip in a row. The trip
    holds one fill of ours, so RULE-011 counts it as nothing: no daily lock."""
    from fsm_risk.rules.max_consecutive_losses import MaxConsecutiveLosses

    d = Driver(make_engine({MaxConsecutiveLosses: {}, **RULES}))
    d.send(account())
    for _ in range(2):
        d.send(
            fill(MNQ, Side.BUY, 1, "21000", order_id=next(_ids), at=d.now),
            position(MNQ, 1, "21000", at=d.now),
            fill(MNQ, Side.SELL, 1, "20990", pnl="-20", order_id=next(_ids), at=d.now),
            flat(MNQ, at=d.now),
        )
        d.now += timedelta(minutes=1)
    d.send(fill(MNQ, Side.BUY, 3, "21000", order_id=next(_ids), at=d.now))
    d.send(position(MNQ, 3, "21000", at=d.now))
    d.send(fill(MNQ, Side.BUY, 1, "21000", order_id=next(_ids), at=d.now))
    d.send(position(MNQ, 4, "21000", at=d.now))
    assert [r.size for r in reduces(d.effects)] == [1]
    done, trade = our_close_filled(MNQ, Side.SELL, 1, "21000", pnl="0", at=d.now)
    d.send(done, trade, position(MNQ, 3, "21000", at=d.now))
    assert d.acct.contracts[MNQ].state is State.Trading
    d.now += timedelta(minutes=10)
    his = next(_ids)
    d.send(
        order(his, MNQ, Side.SELL, 3, type=OrderType.MARKET, status=OrderStatus.FILLED),
        fill(MNQ, Side.SELL, 3, "20900", pnl="-600", order_id=his, at=d.now),
        flat(MNQ, at=d.now),
    )
    assert "RULE-011" in d.acct.holds, "his third losing trip in a row not counted"
