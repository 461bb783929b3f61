"""Found by a review of 9bb0c4b: past 32 distinct holdings of contracts held together, a
strided run was handed on one by one: every quote judged for every holder, the 16 s lag behind
a 5,000/s burst that striding was made to end (300 accounts long ZN and MNQ). Holdings are told
apart by the proportion of their dollars a point, so 300 accounts holding ZN and MNQ at the sizes
traders really hold (1 to 10 lots each, long or short) are far more than 32 holdings: the
burst's consumer falls behind again as soon as the book is not uniform."""

from __future__ import annotations

import random
from decimal import Decimal as D

from fsm_risk.core.events import Quote
from fsm_risk.core.pnl import MarkMode
from fsm_risk.core.waited import TOGETHER, judged, waited
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from fsm_risk.rules.trailing_drawdown import TrailingDrawdown
from tests.factories import MNQ, Driver, account, make_engine, position
from tests.unit.test_quotes_waited_shared import AT, MS, S

ZN = "CON.F.US.TYA.Z26"


def _book(sizes: list[tuple[int, int]]) -> Driver:
    """300 accounts, each holding ZN and MNQ at ``sizes`` (signed lots), quoted at entry; a
    1,000 daily loss limit and a 2,500 trailing drawdown (the realistic burst's book)."""
    trailing = {"drawdown": "2500", "starting_balance": "50000"}
    rules = {DailyLossLimit: {"limit": "1000"}, TrailingDrawdown: trailing}
    d = Driver(make_engine(rules, mark_mode=MarkMode.LIQUIDATION))  # type: ignore[arg-type]
    d.now = AT
    for acc, (zn, mnq) in enumerate(sizes, 1):
        d.send(account(acc=acc))
        d.send(position(ZN, abs(zn), "110", long=zn > 0, acc=acc, at=AT))
        d.send(position(MNQ, abs(mnq), "21000", long=mnq > 0, acc=acc, at=AT))
    d.send(Quote(ZN, AT - 10 * S, D(110), D(110), D("110.015625")))
    d.send(Quote(MNQ, AT - 10 * S, D(21000), D(21000), D("21000.25")))
    return d


def _burst(n: int) -> list[Quote]:
    """``n`` book quotes, ZN and MNQ alternating, a tick either way, 0.2 ms apart."""
    r = random.Random(7)
    quotes = []
    for i in range(n):
        cid, base, tick = (ZN, D(110), D("0.015625")) if i % 2 else (MNQ, D(21000), D("0.25"))
        bid = base + r.choice((-1, 0, 1)) * tick
        quotes.append(Quote(cid, AT + i * MS / 5, bid=bid, ask=bid + tick))
    return quotes


def test_a_burst_of_contracts_held_together_at_mixed_sizes_is_handed_on_strided() -> None:
    """Found by a review of 9bb0c4b: a burst is handed on at a few places however many
    distinct holdings its holders make. A batch of 1,000 quotes (a fifth of a second of the
    burst) for 300 accounts long or short 1-10 ZN and 1-10 MNQ is handed on at a few places,
    as for 300 accounts holding alike, not one by one (all 1,000, each judged for all 300)."""
    r = random.Random(1)
    mixed = [(r.randint(1, 10) * r.choice((1, -1)), r.randint(1, 10) * r.choice((1, -1)))
             for _ in range(300)]  # fmt: skip
    quotes = _burst(1000)
    alike = _book([(1, 1)] * 300)
    v = alike.engine.valuation
    few = len(waited(quotes, alike.engine.marks, judged(True), v.beside, v.holdings))
    assert TOGETHER < few < 200
    d = _book(mixed)
    v = d.engine.valuation
    handed = waited(quotes, d.engine.marks, judged(True), v.beside, v.holdings)
    assert len(handed) < 4 * few, (len(handed), few)
