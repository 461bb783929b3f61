"""A closing trade record without its P&L: the P&L computed from the fills is the one the
gateway books, to the cent with half a cent to the even cent (`booked`, the paper gateway's
rule: one ZN tick, 15.625, books 15.62), from the exact average cost.

Found by a hunt: the average entry of fills that average to a repeating fraction (663.25 for
6 ZN: 110.541666...) is rounded at 28 digits, and the exit's P&L came out a hair beside an
exact half cent: 109.3749999... booked 109.37 where the gateway books 109.375 as 109.38, and
78.1250000...1 booked 78.13 (as rounding half up would) where the gateway books 78.12. The
computed figure stands until the next read of the trades, a cent off every limit."""

from __future__ import annotations

from decimal import Decimal

import pytest

from fsm_risk.core.events import Side
from fsm_risk.core.pnl import booked
from fsm_risk.paper.catalog import build_contracts
from fsm_risk.paper.engine import Engine, OrderType
from fsm_risk.paper.engine import Side as PaperSide
from fsm_risk.paper.settings import DEFAULT_FEES
from tests.factories import ACC, T0, Driver, account, fill, make_engine, position

D = Decimal
ZN = "CON.F.US.TYA.Z26"  # ZN as the gateway lists it (the paper gateway: CON.F.US.ZN.Z26)

#: (the trades: buy/sell, contracts, price; the last closes with no P&L on its record), the
#: exact P&L of the last, and what the gateway books for it
CASES = [
    # long 2 at 110.5625 and 4 at 110.53125 (cost 663.25 for 6), sell 2, then 3: exactly
    # (110.578125 - 442.1666.../4) x 3 x 1000 = 109.375: half a cent, to the even 109.38
    pytest.param(
        [
            ("buy", 2, "110.5625"),
            ("buy", 4, "110.53125"),
            ("sell", 2, "110.578125"),
            ("sell", 3, "110.578125"),
        ],
        "109.375",
        "109.38",
        id="109.375-even-up",
    ),
    # long 1 at 110.5 and 2 at 110.53125 (average 110.520833...), all 3 sold at 110.546875:
    # 78.125, which the gateway books 78.12 (to the even cent; half up would say 78.13)
    pytest.param(
        [("buy", 1, "110.5"), ("buy", 2, "110.53125"), ("sell", 3, "110.546875")],
        "78.125",
        "78.12",
        id="78.125-even-down",
    ),
    # the same short: -78.125 books -78.12
    pytest.param(
        [("sell", 1, "110.5"), ("sell", 2, "110.53125"), ("buy", 3, "110.546875")],
        "-78.125",
        "-78.12",
        id="short-78.125-even-down",
    ),
]


def _paper(trades: list[tuple[str, int, str]]) -> tuple[list[dict[str, object]], Decimal]:
    """The trades made on the paper gateway: its trade records and the balance they moved."""
    contracts = {c.id: c for c in build_contracts("Z26", {}, dict(DEFAULT_FEES))}
    gateway = Engine(contracts, spread_ticks=0, clock=lambda: T0)
    gateway.add_account(ACC, "PAPER-1", D("50000"), True, "paper")
    records = []
    for side, size, price in trades:
        gateway.set_last("CON.F.US.ZN.Z26", D(price))
        way = PaperSide.BUY if side == "buy" else PaperSide.SELL
        _, events = gateway.place(ACC, "CON.F.US.ZN.Z26", OrderType.MARKET, way, size)
        records += [e.payload for e in events if e.target == "GatewayUserTrade"]
    return records, gateway.accounts[ACC].balance - D("50000")


@pytest.mark.parametrize(("trades", "exact", "books"), CASES)
def test_a_computed_exit_at_a_repeating_average_books_the_gateways_cent(
    trades: list[tuple[str, int, str]], exact: str, books: str
) -> None:
    """The gateway's rule is half to even (`booked`, as the paper gateway books): the exact
    P&L is a half cent, and the computed one is what the gateway's trade says."""
    assert booked(D(exact)) == D(books)
    records, moved = _paper(trades)
    assert records[-1]["profitAndLoss"] == D(books), records[-1]  # the gateway's own figure
    d = Driver(make_engine())
    d.send(account("50000"))
    for i, ((side, size, price), record) in enumerate(zip(trades, records, strict=True)):
        pnl = record["profitAndLoss"] if i < len(trades) - 1 else None  # the last has none
        d.send(
            fill(
                ZN,
                Side.BUY if side == "buy" else Side.SELL,
                size,
                price,
                pnl=None if pnl is None else str(pnl),
                fees=str(record["fees"]),
                order_id=100 + i,
            )
        )
    computed = d.acct.day.fills[-1].pnl
    assert computed == D(books), (computed, exact)
    assert d.acct.day.realized == moved, (d.acct.day.realized, moved)  # the balance's move


def test_a_computed_exit_from_the_gateways_float_average_books_the_gateways_cent() -> None:
    """A position held from before monitoring began (no fills to average): its average is the
    gateway's, a float (110.52083333333333 for 1 at 110.5 and 2 at 110.53125). All 3 sold at
    110.546875 with no P&L on the record: 78.125 exactly, 78.12 booked; the float's error made
    it 78.12500000001, booked 78.13."""
    d = Driver(make_engine())
    d.send(account("50000"), position(ZN, 3, "110.52083333333333"))
    d.send(fill(ZN, Side.SELL, 3, "110.546875", fees="2.46"))
    assert d.acct.day.fills[-1].pnl == D("78.12")
    assert d.acct.day.realized == D("78.12") - D("2.46")
