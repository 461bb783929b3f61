"""Found by a hunt (contract months): a roll at the per-root limit, the trader's own exit of
the old month in flight.

Long 3 MNQ Z26 at `limits = MNQ: 3`; the trader rolls: a market sell of 3 Z26 (working) and a
buy of 3 H27 (filled first). Once his exit fills MNQ holds 3: the root is at its limit."""

from __future__ import annotations

from fsm_risk.core.events import OrderStatus, OrderType, Side
from fsm_risk.rules.max_contracts_per_instrument import MaxContractsPerInstrument
from tests.factories import (
    MNQ,
    MNQ_H27,
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


def _driver() -> Driver:
    d = Driver(make_engine({MaxContractsPerInstrument: {"limits": "MNQ: 3"}}))
    d.send(account(), quote(MNQ, "21000"), quote(MNQ_H27, "21100"))
    d.send(fill(MNQ, Side.BUY, 3, "21000", order_id=11), position(MNQ, 3, "21000"))
    return d


def _sent(out: list) -> list[tuple[str, str, int]]:
    return [
        (type(e).__name__, e.contract_id, getattr(e, "size", 0))
        for e in out
        if type(e).__name__ in ("ClosePosition", "ReducePosition")
    ]


def test_same_month_exit_in_flight() -> None:
    """Control: one month. Long 3, his market sell of 3 working, a buy of 3 more filled (6
    held, 3 once his exit fills)."""
    d = _driver()
    d.send(order(21, MNQ, Side.SELL, 3, type=OrderType.MARKET, status=OrderStatus.OPEN))
    out = d.send(fill(MNQ, Side.BUY, 3, "21000", order_id=22), position(MNQ, 6, "21000"))
    assert not closes(out) and not reduces(out), _sent(out)  # his exit takes the 3 off


def test_other_month_exit_in_flight() -> None:
    d = _driver()
    d.send(order(21, MNQ, Side.SELL, 3, type=OrderType.MARKET, status=OrderStatus.OPEN))
    out = d.send(fill(MNQ_H27, Side.BUY, 3, "21100", order_id=22), position(MNQ_H27, 3, "21100"))
    assert not closes(out) and not reduces(out), _sent(out)


def test_the_roll_ends_at_the_limit_not_below() -> None:
    """Followed to the end: his exit of Z26 fills; the root must hold its 3 (in H27), not 0."""
    d = _driver()
    d.send(order(21, MNQ, Side.SELL, 3, type=OrderType.MARKET, status=OrderStatus.OPEN))
    out = d.send(fill(MNQ_H27, Side.BUY, 3, "21100", order_id=22), position(MNQ_H27, 3, "21100"))
    sent = _sent(out)
    # his exit fills
    d.send(order(21, MNQ, Side.SELL, 3, type=OrderType.MARKET, status=OrderStatus.FILLED))
    d.send(fill(MNQ, Side.SELL, 3, "21000", pnl="0", order_id=21))
    out = d.send(position(MNQ, 0, "0"))
    sent += _sent(out)
    for _ in range(3):
        sent += _sent(d.advance(seconds=15))
    assert not any(c == MNQ_H27 for _, c, _ in sent), sent
