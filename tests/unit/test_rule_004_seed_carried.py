"""Found by a review: RULE-004's rebuilt peak (no stored peak) with a position carried over the
daily reset and closed today, before the restart: the day's realized P&L includes what the
position lost BEFORE the reset, which the firm's end-of-day peak (the equity at the reset)
already took."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from functools import partial

import pytest

from fsm_risk.core.events import Side
from fsm_risk.core.states import State
from fsm_risk.rules.trailing_drawdown import TrailingDrawdown
from tests.factories import (
    ACC,
    MNQ,
    NQ,
    T0,
    Driver,
    account,
    balance_read,
    closes,
    fill,
    gateway_read,
    position,
    quote,
    rule_engine,
)

engine = partial(rule_engine, TrailingDrawdown, drawdown="2000")
RESET = T0.replace(hour=23)  # Monday 17:00 Chicago
TUE = T0 + timedelta(days=1)  # Tuesday 09:00 Chicago


def listed() -> list:
    # Monday 09:00: long 1 NQ at 21,000, quoted 20,950 at once (-1,000); while it is open a
    # +1,500 MNQ scalp (balance 51,500, equity 50,500); the NQ long is held over the reset
    # (NQ 20,950 then: equity 50,500) and closed Tuesday 09:00 at 20,950 (-1,000): balance
    # 50,500. The firm's peak: 50,500 in both modes (no equity above it was ever seen).
    return [
        fill(NQ, Side.BUY, 1, "21000", at=T0),
        fill(MNQ, Side.BUY, 1, "21000", at=T0 + timedelta(minutes=5)),
        fill(MNQ, Side.SELL, 1, "21750", pnl="1500", at=T0 + timedelta(minutes=10)),
        fill(NQ, Side.SELL, 1, "20950", pnl="-1000", at=TUE),
    ]


@pytest.mark.parametrize("mode", ["end_of_day", "intraday"])
def test_control_with_stored_state_peak_is_50500(mode: str) -> None:
    d = Driver(engine(mode=mode), now=T0)
    d.send(account("50000"))
    f = listed()
    d.send(f[0], position(NQ, 1, "21000"))
    d.now = T0 + timedelta(minutes=1)
    d.send(quote(NQ, "20950", at=d.now))
    d.now = T0 + timedelta(minutes=5)
    d.send(f[1], position(MNQ, 1, "21000"), quote(MNQ, "21000", at=d.now))
    d.now = T0 + timedelta(minutes=10)
    d.send(quote(MNQ, "21750", at=d.now), f[2], position(MNQ, 0, "0"), account("51500"))
    balance_read(d, "51500")
    d.at(RESET)
    d.now = TUE
    d.send(quote(NQ, "20950", at=d.now), f[3], position(NQ, 0, "0"), account("50500"))
    balance_read(d, "50500")
    assert Decimal(d.acct.rule_state["RULE-004"]["peak"]) == Decimal("50500")


@pytest.mark.parametrize("mode", ["end_of_day", "intraday"])
def test_lost_database_peak_not_above_the_firms(mode: str) -> None:
    # the same account, the service started on Tuesday 10:00 with no stored state
    d = Driver(engine(mode=mode), now=TUE + timedelta(hours=1))
    d.engine.add_account(ACC, f"PRAC-{ACC}", d.now)
    gateway_read(d, *listed(), account("50500"), since=T0.replace(hour=0))
    a = d.acct
    peak = Decimal(a.rule_state["RULE-004"]["peak"])
    # a new long 1 NQ at 21,000 falls to 20,945: equity 49,400, $900 above the firm's floor
    # (48,500): the account is in good standing at the firm
    d.send(fill(NQ, Side.BUY, 1, "21000"), position(NQ, 1, "21000"))
    d.send(quote(NQ, "20945", at=d.now))
    assert peak <= Decimal("50500"), f"peak {peak}: above the firm's 50,500 (floor 48,500)"
    assert not closes(d.effects) and a.state is State.Trading
