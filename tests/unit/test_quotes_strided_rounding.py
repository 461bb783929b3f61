"""Found by a review of 9bb0c4b: a strided run's combined value of a holding was compared unrounded,
but the engine books a position whose ticks are worth fractions of a cent (ZN on an odd number
of contracts: $15.625 a tick) to the cent, half a cent to the even cent. Two places of a run
can hold the same unrounded combined value and book a cent apart; `turns` keeps the first
reached, and one by one the account is judged at the other."""

from __future__ import annotations

from decimal import Decimal as D

from fsm_risk.core.events import Quote
from fsm_risk.core.pnl import MarkMode
from fsm_risk.core.states import State
from fsm_risk.core.waited import judged, waited
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from tests.factories import Driver, account, make_engine, position
from tests.unit.test_quotes_waited_shared import AT, MS, S

ZN = "CON.F.US.TYA.Z26"  # 1/64 at $15.625
ZB = "CON.F.US.USA.Z26"  # 1/32 at $31.25
ZN_TICK, ZB_TICK = D("0.015625"), D("0.03125")


def _held() -> Driver:
    """Long 1 ZN at 110 and long 1 ZB at 115, quoted there; a 953.13 daily loss limit, at the
    last."""
    d = Driver(make_engine({DailyLossLimit: {"limit": "953.13"}}, mark_mode=MarkMode.LAST))
    d.now = AT
    d.send(account(), position(ZN, 1, "110", at=AT), position(ZB, 1, "115", at=AT))
    d.send(Quote(ZN, AT - 10 * S, D(110), D(110), D(110)))
    d.send(Quote(ZB, AT - 10 * S, D(115), D(115), D(115)))
    return d


def _rounds() -> list[Quote]:
    """20 rounds of a ZN then a ZB print, 1 ms apart, in ticks from entry: ZB +5 in rounds 1-2
    and ZN -70 in round 2 (ZN's lowest, -$937.50 on the account), ZB -4 in round 6 (its
    lowest), ZN -61 in round 12 (-$953.125: booked -953.12), ZN -59 and ZB -1 in round 13
    (-$953.125 again: booked -921.88 - 31.25 = -953.13), else at entry."""
    zn = {2: -70, 12: -61, 13: -59}
    zb = {1: 5, 2: 5, 6: -4, 13: -1}
    quotes: list[Quote] = []
    for i in range(20):
        quotes.append(Quote(ZN, AT + (2 * i + 1) * MS, last=110 + zn.get(i, 0) * ZN_TICK))
        quotes.append(Quote(ZB, AT + (2 * i + 2) * MS, last=115 + zb.get(i, 0) * ZB_TICK))
    return quotes


def test_a_daily_loss_booked_to_the_cent_at_a_tie_of_the_combined_value_is_judged() -> None:
    """Found by a review of 9bb0c4b: a daily loss booked to the cent at the limit is judged
    strided as one by one. One by one the account books -$953.13 at round 13's ZB print and
    flattens on its $953.13 limit. Strided (40 quotes, a stride of 3), the combined value's
    lowest, -953.125, was first reached at round 12 (booked -953.12) and round 13's tie was
    no turn of anything: the limit was never judged touched."""
    d = _held()
    worst = D(0)
    for q in _rounds():
        d.send(q)
        worst = min(worst, d.acct.open_upnl)
    assert (d.acct.state, worst) == (State.Flattening, D("-953.13"))
    d = _held()
    v = d.engine.valuation
    for q in waited(_rounds(), d.engine.marks, judged(False), v.beside, v.holdings):
        d.send(q)
    assert d.acct.state is State.Flattening
