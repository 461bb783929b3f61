"""An account the firm closed (a failed evaluation: the gateway no longer lists it as active)
named in the settings does not keep the service from starting: the others stay enforced.

Found by a hunt: with ``[general] accounts = 1001, 1002`` (or a ``[notify.PAPER-2]`` section)
and 1001 LockedDaily, the firm closing 1002 made the next start (a reboot) refuse ("[general]
accounts names 1002, which the gateway does not list ..."): no service ran, and 1001's trader
bought and kept 3 MNQ. A name no account ever had (a typo) is still refused (test_serve_start)."""

from __future__ import annotations

import pytest

from fsm_risk.core.states import State
from fsm_risk.paper.settings import _accounts
from tests.e2e.service_harness import Harness, lock_by_daily_loss

TWO = _accounts("1001: PAPER-1: 50000: true, 1002: PAPER-2: 25000: true")


async def locked_then_other_closed(h: Harness) -> None:
    """1001 LockedDaily; the service stops; the firm closes 1002; the machine reboots."""
    await h.start()
    await lock_by_daily_loss(h)
    await h.stop()
    h.gateway.engine.accounts.pop(1002)  # no longer listed as an active account
    h.clock.advance(minutes=10)
    await h.start()


async def still_enforced(h: Harness) -> None:
    assert h.acct.state is State.LockedDaily
    before = len(h.closes("MNQ"))
    h.trade("MNQ", "buy", 3)
    await h.gw_until(
        lambda: len(h.closes("MNQ")) > before and h.position("MNQ") == 0,
        "the locked account's buy closed",
    )


@pytest.mark.paper(accounts=TWO)
async def test_a_named_account_the_firm_closed_leaves_the_others_enforced(h: Harness) -> None:
    path = h.write_settings("[rule.daily_loss_limit]\nlimit = 500\n")
    path.write_text(path.read_text().replace("[general]\n", "[general]\naccounts = 1001, 1002\n"))
    await locked_then_other_closed(h)
    assert h.svc.account_ids == [1001]
    said = [line for line in h.logs if "names 1002, which the gateway no longer lists" in line]
    assert said and "CRITICAL" in said[0], said
    await still_enforced(h)
    # a reload of the same file is not refused as one the next start would refuse (it raises)
    await h.svc.reload("admin:ops")


@pytest.mark.paper(accounts=TWO)
async def test_alerts_for_an_account_the_firm_closed_leave_the_others_enforced(
    h: Harness,
) -> None:
    h.write_settings(
        "[rule.daily_loss_limit]\nlimit = 500\n[notify.PAPER-2]\nurls = json://127.0.0.1:9/x\n"
    )
    await locked_then_other_closed(h)
    said = [line for line in h.logs if "[notify.PAPER-2]: the gateway no longer lists" in line]
    assert said and "CRITICAL" in said[0], said
    await still_enforced(h)
    await h.svc.reload("admin:ops")
