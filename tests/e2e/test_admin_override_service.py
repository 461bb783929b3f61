"""The admin's word through the running service (real SDK, paper gateway, `fsm-risk` CLI as its
own process): the two failures a trial reported, reproduced end to end.

1. ``transition 1001 --contract MNQ --to LockedDaily`` printed a lock, yet the trader bought
   and kept MNQ, and ``--contract ZZZ`` was accepted.
2. A forced ``Trading`` after a ``LockedWeekly`` waived the trailing drawdown for good: a
   further loss fired nothing.
"""

from __future__ import annotations

from decimal import Decimal

from fsm_risk.adapters.auth import AdminAuth
from fsm_risk.core.engine import ADMIN
from fsm_risk.core.states import State
from tests.e2e.service_harness import ACCOUNT, Harness, run_cli

MNQ = "CON.F.US.MNQ.Z26"
NQ = "CON.F.US.ENQ.Z26"
MES = "CON.F.US.MES.Z26"
SECRET = "correct horse battery"
TRAILING = """
[rule.trailing_drawdown]
drawdown = 500
starting_balance = 50000
"""


async def admin(h: Harness, *args: str) -> tuple[int, str]:
    return await run_cli(h.home, "transition", str(ACCOUNT), *args, "--admin", "ops", secret=SECRET)


async def test_a_root_lock_closes_what_the_trader_opens_in_that_root(h: Harness) -> None:
    await h.start("[rule.max_contracts]\nlimit = 10\n")
    AdminAuth(h.svc.store, h.clock.now, delay=0).set_secret(SECRET)
    code, out = await admin(h, "--contract", "ZZZ", "--to", "LockedDaily", "--reason", "typo")
    assert code == 2 and "unknown contract 'ZZZ'" in out and "MNQ" in out, out
    assert "ZZZ" not in h.acct.contracts
    code, out = await admin(h, "--contract", "MNQ", "--to", "LockedDaily", "--reason", "desk")
    assert code == 0, out
    assert "contract MNQ (every MNQ contract, held now or opened later)" in out
    assert "Trading -> LockedDaily" in out
    h.trade("MNQ", "buy", 1)
    await h.gw_until(lambda: h.closes("MNQ"), "the service closed the MNQ the trader bought")
    await h.gw_until(lambda: h.position("MNQ") == 0, "flat in MNQ")
    h.trade("NQ", "buy", 1)  # another root: the lock does not touch it
    await h.until(lambda: NQ in h.acct.positions, "the NQ position reached the service")
    assert h.closes("NQ") == [] and h.position("NQ") == 1
    code, out = await run_cli(h.home, "status", secret="")
    assert "contract MNQ (every MNQ contract) LockedDaily" in out, out


async def test_a_forced_trading_after_a_weekly_lock_still_flattens_a_runaway_loss(
    h: Harness,
) -> None:
    await h.start(TRAILING)
    AdminAuth(h.svc.store, h.clock.now, delay=0).set_secret(SECRET)
    h.trade("MNQ", "buy", 2)
    await h.until(lambda: MNQ in h.acct.positions, "the position reached the service")
    h.gateway.move_price("MNQ", -600)  # -$600: equity under the floor of 49,500
    await h.until(lambda: h.acct.state is State.LockedWeekly, "locked by RULE-004")
    code, out = await admin(h, "--to", "Trading", "--reason", "desk ok")
    assert code == 0, out
    assert "LockedWeekly -> Trading" in out
    assert "waived RULE-004 trailing_drawdown until" in out and "re-arms at" in out, out
    waiver = h.acct.rule_state[ADMIN]["waivers"]["RULE-004"]
    rearm = Decimal(waiver["rearm"])
    assert rearm == Decimal(waiver["at"]) - 500
    code, status = await run_cli(h.home, "status", secret="")
    assert "waived RULE-004 trailing_drawdown" in status, status
    code, history = await run_cli(h.home, "history", secret="")
    assert "waived RULE-004 trailing_drawdown" in history, history
    # the trader trades on; a loss inside the waiver is tolerated...
    h.trade("MNQ", "buy", 2)
    await h.until(lambda: MNQ in h.acct.positions, "the new position reached the service")
    h.gateway.move_price("MNQ", -300)  # -$300
    await h.until(lambda: h.acct.equity is not None and h.acct.equity < rearm + 300, "marked")
    assert h.acct.state is State.Trading
    # ...a runaway one past the re-arm level is flattened
    h.gateway.move_price("MNQ", -300)
    await h.gw_until(lambda: h.position("MNQ") == 0, "flattened past the re-arm level")
    await h.until(lambda: h.acct.state is State.LockedWeekly, "locked again")


async def test_a_waiver_of_the_trading_permission_ends_when_the_gateway_allows_trading(
    h: Harness,
) -> None:
    """Reported: blocked by the firm, forced Trading ("firm glitch"), unblocked, the trader
    bought 1 MES, blocked again: still Trading 3 s later, MES open, the waiver listed."""
    await h.start("[rule.trading_permission]\n")
    AdminAuth(h.svc.store, h.clock.now, delay=0).set_secret(SECRET)
    h.gateway.set_can_trade(ACCOUNT, False)
    await h.until(lambda: h.acct.state is State.LockedDaily, "locked by RULE-018")
    code, out = await admin(h, "--to", "Trading", "--reason", "firm glitch")
    assert code == 0 and "LockedDaily -> Trading" in out, out
    assert "waived RULE-018 trading_permission until the gateway reports it can trade" in out
    h.gateway.set_can_trade(ACCOUNT, True)
    await h.until(lambda: not h.acct.rule_state[ADMIN]["waivers"], "the waiver ended")
    h.trade("MES", "buy", 1)
    await h.until(lambda: MES in h.acct.positions, "the MES position reached the service")
    assert h.closes("MES") == [] and h.acct.state is State.Trading
    h.gateway.set_can_trade(ACCOUNT, False)
    await h.gw_until(lambda: h.position("MES") == 0, "the second block closed the MES")
    await h.until(lambda: h.acct.state is State.LockedDaily, "locked again by RULE-018")
    assert (None, "Trading", "Flattening", "breach", "RULE-018") in h.audit()


async def test_a_root_and_one_of_its_contracts_are_never_forced_past_each_other(h: Harness) -> None:
    """Reported: a contract forced to Trading under its root's lock, and a root forced to
    Trading over a contract's own lock, each replied Trading -> Trading and changed nothing."""
    await h.start("[rule.max_contracts]\nlimit = 10\n")
    AdminAuth(h.svc.store, h.clock.now, delay=0).set_secret(SECRET)
    code, out = await admin(h, "--contract", "MNQ", "--to", "LockedDaily", "--reason", "desk")
    assert code == 0, out
    audit = h.audit()
    code, out = await admin(h, "--contract", "MNQZ6", "--to", "Trading", "--reason", "ok")
    assert code == 2 and out.count("\n") == 1, out
    assert f"{MNQ} is under the LockedDaily on MNQ" in out and "--contract MNQ" in out, out
    assert h.audit() == audit
    code, out = await admin(h, "--contract", "MNQ", "--to", "Trading", "--reason", "ok")
    code, out = await admin(h, "--contract", "MNQZ6", "--to", "LockedDaily", "--reason", "desk")
    assert code == 0, out
    code, out = await admin(h, "--contract", "MNQ", "--to", "Trading", "--reason", "ok")
    assert code == 0 and f"also contract {MNQ}: LockedDaily -> Trading" in out, out
    assert h.contract_state(MNQ) is State.Trading
    h.trade("MNQ", "buy", 1)
    await h.until(lambda: MNQ in h.acct.positions, "the MNQ position reached the service")
    assert h.closes("MNQ") == [] and h.position("MNQ") == 1


async def test_a_typed_account_or_contract_the_service_does_not_know_is_refused_naming_the_choices(
    h: Harness,
) -> None:
    """An admin's typo changes nothing and is answered with what they could have meant: the
    accounts (by id and name), and only real symbol roots (a loss tier's '100' or a window's
    '60' from the settings is no root)."""
    await h.start(
        "[rule.trade_cooldown]\nenabled = false\ntiers = 100: 15, 250: 30\n"
        "[rule.rapid_fire]\nenabled = false\nwindows = 60: 3, 3600: 8\n"
    )
    AdminAuth(h.svc.store, h.clock.now, delay=0).set_secret(SECRET)
    name = h.acct.name
    audit = h.audit()
    code, out = await run_cli(
        h.home, "transition", "1010", "--to", "LockedDaily", "--reason", "typo",
        "--admin", "ops", secret=SECRET,
    )  # fmt: skip
    assert code == 2, out
    assert f"unknown account '1010' on this service (one of: {ACCOUNT} {name})" in out, out
    assert h.audit() == audit and h.acct.state is State.Trading
    code, out = await run_cli(
        h.home, "transition", name.lower(), "--to", "LockedDaily", "--reason", "desk",
        "--admin", "ops", secret=SECRET,
    )  # fmt: skip
    assert code == 0 and "Trading -> LockedDaily" in out, out  # its name, in any case
    code, out = await run_cli(
        h.home, "transition", str(ACCOUNT), "--to", "Trading", "--reason", "undo",
        "--admin", "ops", secret=SECRET,
    )  # fmt: skip
    assert code == 0, out
    audit = h.audit()
    for typo in ("100", "60"):
        code, out = await admin(h, "--contract", typo, "--to", "LockedDaily", "--reason", "typo")
        assert code == 2 and f"unknown contract '{typo}'" in out, out
        roots = out.split("give a symbol root (")[1].split(")")[0].split(", ")
        assert "MNQ" in roots and not {"100", "250", "60", "3600"} & set(roots), out
    assert h.audit() == audit and h.acct.state is State.Trading
    assert set(h.acct.contracts) <= {MNQ}
    code, out = await run_cli(h.home, "status", "PAPER-9", secret="")
    assert code == 2 and f"(one of: {ACCOUNT} {name})" in out, out


async def test_a_service_with_no_admin_secret_says_so_at_every_start(h: Harness) -> None:
    """Reported: with no admin secret ever set, a locked trader set one and unlocked
    themselves; nothing had said the locks had no admin behind them."""
    await h.start("[rule.max_contracts]\nlimit = 10\n")

    def warned() -> int:
        return sum("no admin secret is set" in line and "WARNING" in line for line in h.logs)

    assert warned() == 1
    AdminAuth(h.svc.store, h.clock.now, delay=0).set_secret(SECRET)
    await h.stop()
    await h.start()
    assert warned() == 1  # set since: not said again
