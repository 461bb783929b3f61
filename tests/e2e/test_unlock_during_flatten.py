"""An admin's forced Trading during a flatten ends the account's closes too (real SDK, paper
gateway, `fsm-risk transition` and `status` as their own processes).

Found by a hunt: RULE-003 flattening 2 MNQ, its close refused by the gateway; the admin forced
the account to Trading ("desk: keep it", RULE-003 waived). The account said Trading, yet its
MNQ contract stayed in Flattening: the close was re-sent (attempt 2, "RULE-003") and closed
the 2 MNQ and the 1 the trader bought after the unlock, with a CLOSE_FAILING alert.
"""

from __future__ import annotations

import asyncio

from fsm_risk.adapters.auth import AdminAuth
from fsm_risk.core.states import State
from tests.e2e.service_harness import ACCOUNT, Harness, run_cli

MNQ = "CON.F.US.MNQ.Z26"
SECRET = "correct horse battery"


async def test_a_forced_trading_during_a_flatten_stops_its_closes(h: Harness) -> None:
    await h.start("[rule.daily_loss_limit]\nlimit = 500\n")
    AdminAuth(h.svc.store, h.clock.now, delay=0).set_secret(SECRET)
    h.trade("MNQ", "buy", 2)
    await h.until(lambda: MNQ in h.acct.positions, "the position reached the service")
    refused = h.gateway.reject_orders(lambda r: r.source == "close", "Order rejected (test)")
    h.gateway.move_price("MNQ", -600)
    await h.until(lambda: h.acct.state is State.Flattening, "flattening by RULE-003")
    await h.gw_until(lambda: h.closes("MNQ"), "our close reached the gateway (refused)")
    code, out = await run_cli(
        h.home, "transition", str(ACCOUNT), "--to", "Trading", "--reason", "desk: keep it",
        "--admin", "ops", secret=SECRET,
    )  # fmt: skip
    assert code == 0 and "Flattening -> Trading" in out, out
    assert f"also contract {MNQ}: Flattening -> Trading" in out, out
    h.gateway.clear_rejections(refused)
    sent = len(h.closes("MNQ"))
    code, status = await run_cli(h.home, "status", secret="")
    assert f"contract {MNQ} Flattening" not in status, status
    h.trade("MNQ", "buy", 1)  # told Trading, the trader adds one
    await h.gw_until(lambda: h.position("MNQ") == 3, "the trader's buy filled")
    for _ in range(6):  # past every re-send the close timeout and its backoff would give
        await h.advance(seconds=5)
        await asyncio.sleep(0.3)
    assert h.closes("MNQ")[sent:] == [] and h.position("MNQ") == 3
    assert h.acct.state is State.Trading and h.contract_state(MNQ) is State.Trading
