"""Found by a hunt: the alert of a closing trade booked with a computed P&L names the average
entry rounded to two places: 6J's 0.0065035 reads "0.01", ZN's 110.515625 "110.52"."""

from __future__ import annotations

from fsm_risk.core.events import Side
from fsm_risk.core.reasons import Reason
from tests.factories import Driver, account, alerts, fill, make_engine, position

JY = "CON.F.US.JY6.Z26"
ZN = "CON.F.US.TYA.Z26"


def _text(cid: str, entry: str, exit_: str) -> str:
    d = Driver(make_engine())
    d.send(account("50000"))
    d.send(fill(cid, Side.BUY, 1, entry, fees="0.82"), position(cid, 1, entry))
    out = d.send(fill(cid, Side.SELL, 1, exit_, fees="0.82"))  # no profitAndLoss on it
    found = [a.message for a in alerts(out) if a.reason is Reason.PNL_COMPUTED]
    assert found, [a.reason for a in alerts(out)]
    return found[0]


def test_the_computed_pnl_alert_names_6js_average_entry() -> None:
    assert "0.0065035" in _text(JY, "0.0065035", "0.006504")


def test_the_computed_pnl_alert_names_zns_average_entry() -> None:
    assert "110.515625" in _text(ZN, "110.515625", "110.53125")
