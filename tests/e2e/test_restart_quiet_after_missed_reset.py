"""Found by a fix helper (real SDK, paper gateway): the service stopped across the daily reset
values the position held across it at the gateway's price at the reset, read at the start, until
its contract is quoted. That price was never saved as the contract's mark: a restart later that
day with the contract still quiet valued the position at the stop's price again, and the day
read the fall between the stop and the reset as a gain of the new day's.

Long 3 MNQ at its entry when the service stops; MNQ 100 points lower at the reset (-$600
carried); no MNQ quote after that. Before: after the second start the day read +$600, and a
$520 loss on MES left the account Trading under a $500 daily limit."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from fsm_risk.core.states import State
from tests.e2e.service_harness import Harness

DAILY_LOSS = """
[rule.daily_loss_limit]
limit = 500
"""
MNQ = "CON.F.US.MNQ.Z26"
MES = "CON.F.US.MES.Z26"


async def test_a_restart_values_a_quiet_position_at_the_missed_resets_price(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    await h.start(DAILY_LOSS)
    h.trade("MNQ", "buy", 3)
    await h.until(lambda: MNQ in h.acct.positions, "MNQ seen")
    entry = h.acct.positions[MNQ].average_price
    h.gateway.set_price("MNQ", entry)
    await h.until(lambda: h.acct.positions[MNQ].priced and h.acct.open_upnl == 0, "at entry")
    reset = h.svc.engine.calendar.next_daily_reset(h.clock.now())
    await h.stop()
    h.clock.set(reset - timedelta(minutes=30))
    h.gateway.set_price("MNQ", entry - 100)  # -$600: the last price before the reset
    push = h.gateway._push_quote

    def quiet_mnq(contract_id: str, only: Any = None) -> None:  # MNQ trades no more
        if contract_id != MNQ:
            push(contract_id, only)

    monkeypatch.setattr(h.gateway, "_push_quote", quiet_mnq)
    h.clock.set(reset + timedelta(minutes=10))
    await h.start()
    await h.until(lambda: MNQ in h.acct.positions and h.acct.positions[MNQ].priced, "valued")
    assert h.acct.day.start == reset
    assert h.acct.day.carry == -600, "the day carries the open P&L at the gateway's reset price"
    assert h.acct.day_pnl(with_unrealized=True) == 0
    await h.stop()
    h.clock.set(reset + timedelta(minutes=40))
    await h.start()
    await h.until(lambda: MNQ in h.acct.positions and h.acct.positions[MNQ].priced, "valued")
    assert h.acct.day.carry == -600
    assert h.acct.day_pnl(with_unrealized=True) == 0, "the quiet MNQ valued at the stop's price"
    assert h.svc.engine.valuation.last_mark(MNQ).last == entry - 100  # type: ignore[union-attr]
    h.trade("MES", "buy", 1)
    await h.until(lambda: MES in h.acct.positions, "MES seen")
    mes = h.acct.positions[MES].average_price
    h.gateway.set_price("MES", mes - 104)  # -$520 today, all of it MES's: past the $500 limit
    await h.until(lambda: h.acct.state is not State.Trading, "the daily limit fired", 10)
