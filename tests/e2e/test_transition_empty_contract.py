"""`transition ACCOUNT --contract ""` (an unset shell variable) is refused, never taken for
the whole account.

Found by a hunt: through the running service the empty contract reached the control channel,
which read "" as no contract: "account 1001: LockedDaily -> Trading", RULE-003 waived, where
the admin asked to free one contract. With no service running the same command was refused."""

from __future__ import annotations

import asyncio

import pytest

from fsm_risk.adapters import control_client
from fsm_risk.adapters.auth import AdminAuth
from fsm_risk.core.states import State
from fsm_risk.errors import FsmRiskError
from tests.e2e.service_harness import Harness, lock_by_daily_loss, run_cli

SECRET = "correct horse battery"


async def locked(h: Harness) -> None:
    await h.start("[rule.daily_loss_limit]\nlimit = 500\n")
    AdminAuth(h.svc.store, h.clock.now, delay=0).set_secret(SECRET)
    await lock_by_daily_loss(h)


async def test_an_empty_contract_is_refused_through_the_running_service(h: Harness) -> None:
    await locked(h)
    code, out = await run_cli(
        h.home, "transition", "1001", "--contract", "", "--to", "Trading",
        "--reason", "free MNQ only", secret=SECRET,
    )  # fmt: skip
    assert code == 2 and "--contract is empty" in out, out
    assert h.acct.state is State.LockedDaily


@pytest.mark.parametrize("contract", ["", 0, "  "])
async def test_the_control_channel_refuses_an_empty_contract(h: Harness, contract: object) -> None:
    """Any client of the control channel, not the command line only (0 was read as no
    contract too; blank was refused as an unknown contract already)."""
    await locked(h)
    body = {
        "account": "1001", "contract": contract, "to": "Trading", "reason": "free MNQ only",
        "admin": "ops", "secret": SECRET,
    }  # fmt: skip
    sock = h.home / "var" / "ctl.sock"
    with pytest.raises(FsmRiskError, match="contract"):
        await asyncio.to_thread(control_client.request, sock, "POST", "/transition", body)
    assert h.acct.state is State.LockedDaily
