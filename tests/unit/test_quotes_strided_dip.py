"""Found by a review of 1b9eb12: a dip of one leg of contracts held together, past TOGETHER quotes
in one run, between strided samples: one by one it flattens and locks; strided it is never
judged."""

from __future__ import annotations

from decimal import Decimal as D

from fsm_risk.core.events import Quote
from fsm_risk.core.pnl import MarkMode
from fsm_risk.core.states import State
from fsm_risk.core.waited import TOGETHER, judged
from tests.factories import ES, MNQ
from tests.unit.test_quotes_waited_shared import AT, MS, _run, _two, _waited


def _burst(dip_at: int, n: int = 20) -> list[Quote]:
    """n rounds of MNQ then ES bids, flat; ES's bid at round ``dip_at`` 24 points down
    (-$1,200 on a $1,000 limit) for that one quote, then back."""
    quotes: list[Quote] = []
    for i in range(n):
        quotes.append(Quote(MNQ, AT + (2 * i + 1) * MS, bid=D("21000")))
        es = D("5976") if i == dip_at else D("6000")
        quotes.append(Quote(ES, AT + (2 * i + 2) * MS, bid=es))
    return quotes


def test_a_one_quote_dip_of_a_leg_held_together_is_judged_as_one_by_one() -> None:
    quotes = _burst(dip_at=3)  # 40 quotes held together: stride 3; ES's dip is the 8th
    assert len(quotes) > TOGETHER
    one_by_one = _run(_two(MarkMode.LIQUIDATION, True), quotes)
    assert one_by_one[0] is State.Flattening and one_by_one[1] == D("-1200"), one_by_one
    d = _two(MarkMode.LIQUIDATION, True)
    handed = _waited(d, quotes, judged(True))
    assert _run(d, handed) == one_by_one
