"""The quote hot path stays one call deep: a quote inside every guard band costs the engine's
dispatch and the quote path, nothing else, however many accounts hold the contract."""

from __future__ import annotations

import sys
from types import FrameType
from typing import Any

from fsm_risk.core.events import Event
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from fsm_risk.rules.position_stop_loss import PositionStopLoss
from fsm_risk.rules.trailing_drawdown import TrailingDrawdown
from tests.factories import MNQ, T0, account, make_engine, position, quote


def python_calls(handle: Any, event: Event) -> list[str]:
    """The Python functions entered while ``handle(event, T0)`` runs (builtins left out)."""
    calls: list[str] = []

    def profile(frame: FrameType, what: str, arg: Any) -> None:
        if what == "call":
            calls.append(frame.f_code.co_qualname)

    sys.setprofile(profile)
    try:
        handle(event, T0)
    finally:
        sys.setprofile(None)
    return calls


def test_a_quote_inside_the_bands_makes_no_call_beyond_the_quote_path() -> None:
    engine = make_engine(
        {
            DailyLossLimit: {"limit": "1000"},
            TrailingDrawdown: {"drawdown": "2000", "mode": "intraday"},
            PositionStopLoss: {"limit": "500"},
        }
    )
    for acc in (1, 2, 3):
        engine.handle(account(acc=acc), T0)
        engine.handle(position(MNQ, 1, "21000", acc=acc), T0)
    engine.handle(quote(MNQ, "21000"), T0)  # the first quote asks the rules for their bands
    engine.handle(quote(MNQ, "20999.75"), T0)
    assert all(engine.accounts[acc].band is not None for acc in (1, 2, 3))
    calls = python_calls(engine.handle, quote(MNQ, "20999.50"))
    assert calls == ["RiskEngine.handle", "QuotePath.handle"]
    assert engine.accounts[1].positions[MNQ].upnl == -1  # valued: 2 ticks of $0.50
