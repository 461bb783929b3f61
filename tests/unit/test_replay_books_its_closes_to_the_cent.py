"""Found by a hunt: replay's own close of 1 ZN books its P&L unrounded (-46.875 for 3 ticks),
where the gateway books a trade's P&L to the cent (-46.88, half a cent to the even cent)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from fsm_risk import config
from fsm_risk.bootstrap import build_engine
from fsm_risk.core.events import AccountUpdate, Fill, Quote, Side
from fsm_risk.replay import Entry, Replay
from tests.factories import ACC, T0

D = Decimal
ZN = "CON.F.US.TYA.Z26"


def m(minutes: float):  # type: ignore[no-untyped-def]
    return T0 + timedelta(minutes=minutes)


def test_a_replayed_close_of_a_zn_books_to_the_cent() -> None:
    settings = config.parse("[rule.position_stop_loss]\nenabled = true\nlimit = 40\n")
    engine = build_engine(settings)
    r = Replay(engine, ACC, start=engine.calendar.last_daily_reset(T0))
    entries = [
        Entry(T0, ACC, None, "PRAC-1001"),
        Entry(m(0), ACC, AccountUpdate(ACC, "PRAC-1001", D("50000"), True)),
        Entry(m(0.5), None, Quote(ZN, m(0.5), D("110.515625"))),
        Entry(
            m(1), ACC, Fill(ACC, 1, ZN, 101, Side.BUY, 1, D("110.515625"), None, D("0.82"), m(1))
        ),
        Entry(m(2), None, Quote(ZN, m(2), D("110.46875"))),  # -3 ticks: -46.875, books -46.88
        Entry(m(5), None, Quote(ZN, m(5), D("110.5"))),
        Entry(
            m(6), ACC, Fill(ACC, 2, ZN, 102, Side.SELL, 1, D("110.5"), D("-15.62"), D("0.82"), m(6))
        ),
    ]
    for e in entries:
        r.feed(e)
    report = r.finish(T0 + timedelta(hours=7))
    [day] = report.days.values()
    assert day.actual == D("-17.26")
    assert day.replayed == D("-46.88") - 2 * D("0.82")  # the gateway's cent
