"""The real gateway's contract ids (real SDK, paper gateway, service; the CLI as its own process).

ProjectX lists several products under a code that is not the exchange's root: an NQ contract
is ``CON.F.US.ENQ.Z26``, an ES one ``CON.F.US.EP.Z26`` (CL is CLE, GC is GCE, ...). Traders,
settings and admins name the root (NQ, ES). The service read the id's code as the root, so on
the real gateway a per-root limit for NQ, a block of ES and an admin's lock of NQ did nothing:
an NQ position was held to the default limit, a blocked ES position stayed open, and a locked
NQ was bought and kept. Here the paper gateway lists ES and NQ as the real one does.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from fsm_risk.adapters.auth import AdminAuth
from fsm_risk.core.states import State
from tests.e2e.service_harness import ACCOUNT, Harness, run_cli

pytestmark = pytest.mark.paper(product_codes={"ES": "EP", "NQ": "ENQ"}, commission=Decimal(0))

NQ = "CON.F.US.ENQ.Z26"
ES = "CON.F.US.EP.Z26"
SECRET = "correct horse battery"


async def test_a_per_root_limit_for_nq_holds_on_the_gateways_enq_contract(h: Harness) -> None:
    await h.start(
        "[rule.max_contracts]\nlimit = 10\n"
        "[rule.max_contracts_per_instrument]\nlimits = NQ: 1\ndefault_limit = 3\n"
    )
    assert h.gateway.contract("NQ").id == NQ
    h.trade("NQ", "buy", 3)
    await h.gw_until(lambda: h.closes("NQ"), "the excess NQ reduced")
    await h.gw_until(lambda: h.position("NQ") == 1, "NQ held to its limit of 1, not 3")
    await h.until(lambda: h.contract_state(NQ) is State.Trading, "the reduce confirmed")
    assert sum(o.size for o in h.closes("NQ")) == 2


async def test_a_setting_written_with_the_gateways_code_means_its_root(h: Harness) -> None:
    await h.start(
        "[rule.max_contracts]\nlimit = 10\n"
        "[rule.max_contracts_per_instrument]\nlimits = enq: 1\ndefault_limit = 3\n"
    )
    assert h.svc.settings.rule("max_contracts_per_instrument").values["limits"] == {"NQ": 1}
    h.trade("NQ", "buy", 2)
    await h.gw_until(lambda: h.position("NQ") == 1, "NQ held to its limit of 1")


async def test_a_blocked_es_is_closed_and_locked_on_the_gateways_ep_contract(h: Harness) -> None:
    await h.start("[rule.symbol_block]\nroots = ES\n")
    h.trade("ES", "buy", 1)
    await h.gw_until(lambda: h.closes("ES") and h.position("ES") == 0, "the ES closed")
    await h.until(lambda: h.contract_state(ES) is State.LockedDaily, "ES locked")
    assert h.acct.state is State.Trading


async def test_an_admins_nq_lock_closes_what_the_trader_opens_in_enq(h: Harness) -> None:
    await h.start("[rule.max_contracts]\nlimit = 10\n")
    AdminAuth(h.svc.store, h.clock.now, delay=0).set_secret(SECRET)

    async def admin(*args: str) -> tuple[int, str]:
        return await run_cli(
            h.home, "transition", str(ACCOUNT), *args, "--admin", "ops", secret=SECRET
        )

    code, out = await admin("--contract", "NQ", "--to", "LockedDaily", "--reason", "desk")
    assert code == 0, out
    assert "contract NQ (every NQ contract, held now or opened later)" in out, out
    h.trade("NQ", "buy", 1)
    await h.gw_until(lambda: h.closes("NQ"), "the service closed the NQ the trader bought")
    await h.gw_until(lambda: h.position("NQ") == 0, "flat in NQ")
    # the contract as the trading platform names it (NQZ6) is that contract
    h.trade("ES", "buy", 1)
    await h.until(lambda: ES in h.acct.positions, "the ES position reached the service")
    code, out = await admin("--contract", "ESZ6", "--to", "LockedDaily", "--reason", "es too")
    assert code == 0, out
    assert f"contract {ES}" in out, out
    await h.gw_until(lambda: h.position("ES") == 0, "the ES closed by the lock")
    code, out = await admin("--contract", "NQH7", "--to", "LockedDaily", "--reason", "typo")
    assert code == 2 and "unknown contract 'NQH7'" in out and NQ in out, out
