"""An admin forcing a symbol root to Flattening closes every contract of that root held now
(real SDK, paper gateway, the `fsm-risk transition` CLI as its own process).

Found by a hunt: typed as a root (`MNQ`, as `transition` invites), the forced Flattening closed
nothing, cancelled nothing, and the root was confirmed flat at once ("now Trading (an open
position is being closed)", an audited `flat_confirmed`) with the position still open."""

from __future__ import annotations

from fsm_risk.adapters.auth import AdminAuth
from fsm_risk.core.states import State
from tests.e2e.service_harness import ACCOUNT, Harness, run_cli

SECRET = "correct horse battery"
MNQ = "CON.F.US.MNQ.Z26"


async def test_a_root_forced_to_flattening_closes_that_roots_position(h: Harness) -> None:
    await h.start("[rule.max_contracts]\nlimit = 10\n")
    AdminAuth(h.svc.store, h.clock.now, delay=0).set_secret(SECRET)
    h.trade("MNQ", "buy", 2)
    await h.until(lambda: MNQ in h.acct.positions, "the MNQ position reached the service")
    code, out = await run_cli(
        h.home, "transition", str(ACCOUNT), "--contract", "MNQ", "--to", "Flattening",
        "--reason", "close every MNQ", "--admin", "ops", secret=SECRET,
    )  # fmt: skip
    assert code == 0, out
    assert "now Trading" not in out, out
    await h.gw_until(lambda: h.position("MNQ") == 0, "the MNQ position closed", timeout=10)
    await h.until(lambda: h.contract_state("MNQ") is State.Trading, "the root flat again")
    trail = [(c, f, t, trig) for c, f, t, trig, _ in h.audit() if c in ("MNQ", MNQ)]
    assert trail.index(("MNQ", "Trading", "Flattening", "force")) < trail.index(
        (MNQ, "Trading", "Flattening", "breach")
    ), trail
    # the root leaves Flattening only once its contract is flat (in the same pass)
    assert trail.index((MNQ, "Trading", "Flattening", "breach")) < trail.index(
        ("MNQ", "Flattening", "Trading", "flat_confirmed")
    ), trail
    assert (MNQ, "Flattening", "Trading", "flat_confirmed") in trail, trail
