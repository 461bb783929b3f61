"""Found by a review of f977055/4095b8f: one of OUR close fills booked as the trader's.

His market exit of the size our close asked is heard first and recognised as our close's order
(`closes.is_our_close` cannot tell them apart). Our close's real order then fills: the close it
could be (the one in flight) now has "its" order known as another id (his), so `sent.could_be`
says no, and our own fill is booked as his: the rules judge it (RULE-008 cooldown on our stop-
loss close; RULE-011 counts a loss) -- a feedback loop the spec forbids."""

from __future__ import annotations

from datetime import timedelta

from fsm_risk.core.events import OrderStatus, OrderType, Side
from fsm_risk.rules.max_contracts_per_instrument import MaxContractsPerInstrument
from fsm_risk.rules.position_stop_loss import PositionStopLoss
from fsm_risk.rules.trade_cooldown import TradeCooldown
from tests.factories import (
    MNQ,
    Driver,
    account,
    closes,
    fill,
    make_engine,
    order,
    position,
    quote,
    reduces,
)

_ids = iter(range(8_800_000, 10**9))


def test_our_stop_loss_close_beside_his_market_exit_of_the_same_size_is_not_his() -> None:
    """Long 2 MNQ, RULE-014 (limit 500) closes it at 20,850 (-600 open). He market-sells 2 at
    the same moment: his order's record comes first (taken for our close's), then ours, and
    our close's fill (-600) closes the trip. It is ours: no rule may judge it (RULE-014 has no
    lock). His fill then lands on a flat position (an overshoot)."""
    rules = {
        TradeCooldown: {"tiers": "500: 60, 750: 120"},
        PositionStopLoss: {"limit": "500"},
    }
    d = Driver(make_engine(rules))
    d.send(account())
    d.send(fill(MNQ, Side.BUY, 2, "21000", order_id=next(_ids), at=d.now))
    d.send(position(MNQ, 2, "21000", at=d.now))
    d.now += timedelta(seconds=1)
    d.send(quote(MNQ, "20850", at=d.now))
    assert len(closes(d.effects)) == 1, d.effects
    d.now += timedelta(milliseconds=200)
    his, ours = next(_ids), next(_ids)
    mk = {"type": OrderType.MARKET, "at": d.now}
    d.send(order(his, MNQ, Side.SELL, 2, status=OrderStatus.PENDING, **mk))  # type: ignore[arg-type]
    assert d.acct.contracts[MNQ].close_order == his  # (indistinguishable: taken for ours)
    d.send(order(ours, MNQ, Side.SELL, 2, status=OrderStatus.PENDING, **mk))  # type: ignore[arg-type]
    d.send(fill(MNQ, Side.SELL, 2, "20850", pnl="-600", order_id=ours, at=d.now))
    assert d.acct.day.fills[-1].enforcement, "our close's fill booked as his"
    assert getattr(d.acct.day.trips[-1], "his", None) is None, (
        "our stop-loss close's -600 booked as his exit"
    )
    assert "RULE-008" not in d.acct.holds, "our own close cooled the trader down"


def test_our_reduce_beside_his_market_exit_of_the_same_size_is_not_his() -> None:
    """Long 4 on RULE-002's limit of 3: our reduce of 1; he market-sells 1 too, his record
    first (taken for ours). Our reduce's fill (-600 on 1 lot after a gap) is judged by
    RULE-008 basis trade as if his."""
    rules = {
        TradeCooldown: {"tiers": "500: 60, 750: 120", "basis": "trade"},
        MaxContractsPerInstrument: {"default_limit": "3"},
    }
    d = Driver(make_engine(rules))
    d.send(account())
    d.send(fill(MNQ, Side.BUY, 3, "21000", order_id=next(_ids), at=d.now))
    d.send(position(MNQ, 3, "21000", at=d.now))
    d.now += timedelta(minutes=1)
    d.send(fill(MNQ, Side.BUY, 1, "21000", order_id=next(_ids), at=d.now))
    d.send(position(MNQ, 4, "21000", at=d.now))
    assert [r.size for r in reduces(d.effects)] == [1]
    d.now += timedelta(milliseconds=200)
    his, ours = next(_ids), next(_ids)
    mk = {"type": OrderType.MARKET, "at": d.now}
    d.send(order(his, MNQ, Side.SELL, 1, status=OrderStatus.PENDING, **mk))  # type: ignore[arg-type]
    assert d.acct.contracts[MNQ].close_order == his
    d.send(order(ours, MNQ, Side.SELL, 1, status=OrderStatus.PENDING, **mk))  # type: ignore[arg-type]
    d.send(fill(MNQ, Side.SELL, 1, "20700", pnl="-600", order_id=ours, at=d.now))
    assert d.acct.day.fills[-1].enforcement, "our reduce's fill booked as the trader's trade"
    assert "RULE-008" not in d.acct.holds, "our own reduce cooled the trader down"
