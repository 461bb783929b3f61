"""A lock holds until its time whatever the trader edits: an account the database holds locked
stays monitored (and its lock enforced) after `[general] accounts` stops naming it, until the
lock ends; the real SDK and service against the paper gateway."""

from __future__ import annotations

from pathlib import Path

import pytest

from fsm_risk.core.states import State
from fsm_risk.paper.settings import _accounts
from tests.e2e.service_harness import Harness, run_cli

TWO = _accounts("1001: PAPER-1: 50000: true, 1002: PAPER-2: 50000: true")
DAILY_LOSS = "[rule.daily_loss_limit]\nlimit = 500\n"
MNQ = "CON.F.US.MNQ.Z26"
LOCKED = 1002
KEPT = "still monitored although [general] accounts leaves it out"


def only(path: Path, accounts: str) -> None:
    """The trader's edit: ``[general] accounts`` names ``accounts`` only."""
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("[general]\n", f"[general]\naccounts = {accounts}\n", 1))


def size(h: Harness, account_id: int) -> int:
    held = h.gateway.position(account_id, "MNQ")
    return 0 if held is None else held.size


async def lock_1002(h: Harness) -> None:
    """1002 buys 2 MNQ and the price falls 150 points: -$600, flattened and LockedDaily."""
    h.gateway.place_order(LOCKED, "MNQ", 0, 2)
    engine = h.svc.engine.accounts
    await h.until(lambda: MNQ in engine[LOCKED].positions, "the position reached the service")
    h.gateway.move_price("MNQ", -600)
    await h.until(lambda: engine[LOCKED].state is State.LockedDaily, "1002 locked by RULE-003")
    assert size(h, LOCKED) == 0


@pytest.mark.paper(accounts=TWO)
async def test_a_locked_account_the_edited_file_leaves_out_stays_monitored_until_its_reset(
    h: Harness,
) -> None:
    await h.start(DAILY_LOSS)  # every active account: 1001 and 1002
    await lock_1002(h)
    reset = h.svc.engine.calendar.next_daily_reset(h.clock.now())
    # the trader names only the other account and restarts
    await h.stop()
    only(h.write_settings(DAILY_LOSS), "1001")
    h.logs.clear()
    await h.start()
    assert h.svc.account_ids == [1001, LOCKED]
    assert h.svc.engine.accounts[LOCKED].state is State.LockedDaily
    until = h.svc.engine.settings.when(reset)
    said = [line for line in h.logs if f"account {LOCKED} (PAPER-2) is LockedDaily" in line]
    assert len(said) == 1, said
    assert f"LockedDaily until {until}: {KEPT}" in said[0] and "WARNING" in said[0]
    code, out = await run_cli(h.home, "status", str(LOCKED))
    assert code == 0 and "LockedDaily" in out and "not monitored" not in out, out
    # the lock is enforced: a position opened on the locked account is closed
    h.gateway.place_order(LOCKED, "MNQ", 0, 1)
    await h.gw_until(lambda: size(h, LOCKED) == 0, "the locked account's position closed")
    closes = [o for o in h.gateway.order_log(LOCKED) if o.source == "close"]
    assert len(closes) == 2  # the lock's flatten before the restart, this one after it
    # a reload of the file says so too (the next start keeps it monitored as well)
    text = await h.svc.reload("admin:ops")
    assert f"account {LOCKED} (PAPER-2) is LockedDaily until {until}: {KEPT}" in text, text
    # once its lock has ended, a start leaves it out as the file says
    h.clock.set(reset)
    await h.until(lambda: h.svc.engine.accounts[LOCKED].state is State.Trading, "lock ended")
    await h.stop()
    h.logs.clear()
    await h.start()
    assert h.svc.account_ids == [1001]
    assert not [line for line in h.logs if KEPT in line]


@pytest.mark.paper(accounts=TWO)
async def test_a_locked_account_the_gateway_no_longer_lists_is_said_to_be_unwatched(
    h: Harness,
) -> None:
    await h.start(DAILY_LOSS)
    await lock_1002(h)
    await h.stop()
    h.gateway.engine.accounts[LOCKED].owner = "closed"  # the firm closes it: no longer listed
    only(h.write_settings(DAILY_LOSS), "1001")
    h.logs.clear()
    await h.start()
    assert h.svc.account_ids == [1001]
    [said] = [line for line in h.logs if f"account {LOCKED} (PAPER-2) is LockedDaily" in line]
    assert "the gateway no longer lists it as an active account" in said and "WARNING" in said
