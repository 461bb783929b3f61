"""Settings reloaded without a restart (stricter at once, looser at the next daily reset, and a
restart does not bring a loosening sooner), and the trader's self-lock; the real SDK and
service against the paper gateway."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from fsm_risk import cli, reload, runtime
from fsm_risk.adapters.auth import AdminAuth
from fsm_risk.core.engine import self_source
from fsm_risk.core.states import State
from fsm_risk.errors import FsmRiskError
from fsm_risk.paper.settings import _accounts
from tests.e2e.service_harness import ACCOUNT, BASE, Harness, run_cli

MNQ = "CON.F.US.MNQ.Z26"
SECRET = "correct horse battery"
CHICAGO = ZoneInfo("America/Chicago")  # the display time zone of the test settings


def loss_limit(limit: int, extra: str = "") -> str:
    return f"[rule.daily_loss_limit]\nlimit = {limit}\n{extra}"


def limit_in_force(h: Harness) -> int:
    [rule] = [r for r in h.svc.engine.rules if r.id == "RULE-003"]
    return int(rule.config.limit)


async def lose_600(h: Harness) -> None:
    """Buy 2 MNQ and let the price fall 150 points: -$600 open."""
    h.trade("MNQ", "buy", 2)
    await h.until(lambda: MNQ in h.acct.positions, "the position reached the service")
    h.gateway.move_price("MNQ", -600)
    await h.until(lambda: h.acct.day_pnl(with_unrealized=True) <= -600, "the loss seen")


async def test_a_stricter_limit_reloaded_by_the_admin_applies_at_once_and_fires(
    h: Harness,
) -> None:
    await h.start(loss_limit(1000))
    AdminAuth(h.svc.store, h.clock.now, delay=0).set_secret(SECRET)
    await lose_600(h)
    assert h.acct.state is State.Trading  # -$600 against a $1000 limit
    h.write_settings(loss_limit(500))
    code, out = await run_cli(h.home, "reload", "--admin", "ops", secret="a wrong guess")
    assert code == 2 and "wrong admin secret" in out
    assert limit_in_force(h) == 1000
    code, out = await run_cli(h.home, "reload", "--admin", "ops", secret=SECRET)
    assert code == 0, out
    assert "stricter now: [rule.daily_loss_limit] limit: 1000 -> 500" in out
    assert limit_in_force(h) == 500
    await h.until(lambda: h.acct.state is State.LockedDaily, "locked by the stricter limit")
    assert h.position("MNQ") == 0
    [change] = [a for a in h.svc.store.audit(ACCOUNT) if a.trigger == "settings"]
    assert change.actor == "admin:ops" and "SETTINGS_TIGHTENED" in change.reason
    assert reload.Keeper(h.svc.store).in_force() == {
        "daily_loss_limit": {"enabled": "true", "limit": "500"}
    }


async def test_a_per_root_limit_added_below_the_default_applies_at_once_and_reduces(
    h: Harness,
) -> None:
    """The limits map was empty (every root at the default 3): MNQ: 1 is stricter for MNQ, so
    it applies now and the 3 MNQ held are cut to 1 (it once waited for the daily reset)."""
    rule = "[rule.max_contracts_per_instrument]\ndefault_limit = 3\n"
    await h.start(rule)
    AdminAuth(h.svc.store, h.clock.now, delay=0).set_secret(SECRET)
    h.trade("MNQ", "buy", 3)
    await h.until(lambda: MNQ in h.acct.positions, "the position reached the service")
    assert h.position("MNQ") == 3  # at the default limit: nothing to cut
    h.write_settings(rule + "limits = MNQ: 1\n")
    code, out = await run_cli(h.home, "reload", "--admin", "ops", secret=SECRET)
    assert code == 0, out
    assert "stricter now: [rule.max_contracts_per_instrument] limits:  -> MNQ: 1" in out
    assert "looser" not in out
    assert h.svc.pending is None
    await h.gw_until(lambda: h.position("MNQ") == 1, "MNQ cut to its new limit")
    [rule_002] = [r for r in h.svc.engine.rules if r.id == "RULE-002"]
    assert rule_002.config.limit_for("MNQ") == 1


async def test_a_root_the_service_does_not_know_is_named_at_start_and_reload(
    h: Harness,
) -> None:
    rule = "[rule.max_contracts_per_instrument]\ndefault_limit = 3\nlimits = "
    await h.start(rule + "ZZZ: 1\n")
    note = "limits: ZZZ is not a root the service knows; kept, it holds only on contracts"
    assert [line for line in h.logs if note in line and "WARNING" in line]
    h.write_settings(rule + "ZZZ: 1, MESS: 1\n")
    text = await h.svc.reload("admin:ops")
    assert text.endswith(
        " | [rule.max_contracts_per_instrument] limits: MESS is not a root the service knows "
        "(did you mean MES?); kept, it holds only on contracts whose root is MESS"
    )
    # a contract named where a root goes is refused, naming the root; nothing changes
    h.write_settings(rule + "MNQZ6: 1\n")
    with pytest.raises(FsmRiskError, match=r"'MNQZ6' looks like a contract; .* root: MNQ"):
        await h.svc.reload("admin:ops")
    [rule_002] = [r for r in h.svc.engine.rules if r.id == "RULE-002"]
    assert rule_002.config.limits == {"ZZZ": 1, "MESS": 1}


async def test_a_looser_limit_waits_for_the_reset_even_across_a_restart(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    await h.start(loss_limit(500))
    h.write_settings(loss_limit(1000))
    text = await h.svc.reload("admin:ops")
    assert "looser from the daily reset" in text and "limit: 500 -> 1000" in text
    assert limit_in_force(h) == 500
    reset = h.svc.engine.calendar.next_daily_reset(h.clock.now())
    pending = h.svc.status()["pending_settings"]
    assert pending == {
        "applies_at": reset.isoformat(),
        "changes": ["[rule.daily_loss_limit] limit: 500 -> 1000"],
    }
    code, out = await run_cli(h.home, "status")
    assert code == 0 and "looser values held until the daily reset" in out, out
    # the trader restarts with the looser file: the stored settings are still in force
    await h.stop()
    monkeypatch.setattr(cli, "_now", h.clock.now)  # the CLI on the test's clock
    out = cli._status_text(str(h.home / "settings.ini"), None, color=False)  # from the database
    assert "looser values held until the daily reset" in out and "500 -> 1000" in out, out
    h.clock.advance(minutes=5)
    await h.start()
    assert limit_in_force(h) == 500
    assert h.svc.status()["pending_settings"]["applies_at"] == reset.isoformat()
    await lose_600(h)
    await h.until(lambda: h.acct.state is State.LockedDaily, "the $500 limit still enforced")
    # at the reset the looser limit takes effect, audited, and becomes the settings in force
    h.clock.set(reset)
    await h.until(lambda: limit_in_force(h) == 1000, "the loosening applied at the reset")
    await h.until(lambda: h.acct.state is State.Trading, "the daily lock ended at the reset")
    assert h.svc.status()["pending_settings"] is None
    keeper = reload.Keeper(h.svc.store)
    assert keeper.in_force() == {"daily_loss_limit": {"limit": "1000"}}
    assert keeper.pending() is None
    applied = [a for a in h.svc.store.audit(ACCOUNT) if a.trigger == "settings"]
    assert applied[-1].actor == "system" and "SETTINGS_LOOSENED" in applied[-1].reason


async def test_moving_the_daily_reset_and_restarting_does_not_bring_a_loosening_sooner(
    h: Harness,
) -> None:
    """The trader raises the limit and moves [session] daily_reset to two minutes from now:
    the looser limit still waits for the reset of the calendar that was in force."""
    from zoneinfo import ZoneInfo

    await h.start(loss_limit(500))
    reset = h.svc.engine.calendar.next_daily_reset(h.clock.now())
    await h.stop()
    soon = (h.clock.now() + timedelta(minutes=2)).astimezone(ZoneInfo("America/Chicago"))
    h.write_settings(loss_limit(1000) + f"[session]\ndaily_reset = {soon:%H:%M}\n")
    await h.start()
    assert limit_in_force(h) == 500
    assert h.svc.status()["pending_settings"]["applies_at"] == reset.isoformat()
    assert h.svc.engine.staged is not None and h.svc.engine.staged[1] == reset


async def test_a_reload_after_a_moved_reset_does_not_bring_the_held_loosening_sooner(
    h: Harness,
) -> None:
    """As above, then one more loosening reloaded: the reply named the moved reset, and at it
    the held loosening (and the new one) applied a day early: a $2,000 limit where $500
    was in force until the reset of the calendar that was in force."""
    from zoneinfo import ZoneInfo

    await h.start(loss_limit(500) + "[rule.max_contracts]\nlimit = 4\n")
    reset = h.svc.engine.calendar.next_daily_reset(h.clock.now())
    await h.stop()
    soon = (h.clock.now() + timedelta(minutes=2)).astimezone(ZoneInfo("America/Chicago"))
    moved = f"[session]\ndaily_reset = {soon:%H:%M}\n"
    h.write_settings(loss_limit(2000) + "[rule.max_contracts]\nlimit = 4\n" + moved)
    await h.start()
    h.write_settings(loss_limit(2000) + "[rule.max_contracts]\nlimit = 5\n" + moved)
    text = await h.svc.reload("admin:ops")
    local = reset.astimezone(CHICAGO)
    assert f"{local:%a %Y-%m-%d %H:%M}" in text, text
    assert h.svc.status()["pending_settings"]["applies_at"] == reset.isoformat()
    h.clock.advance(minutes=3)  # past the moved reset: nothing applies
    await h.advance(seconds=1)
    await asyncio.sleep(0.2)
    assert limit_in_force(h) == 500
    h.clock.set(reset)
    await h.until(lambda: limit_in_force(h) == 2000, "applied at the reset in force")


async def test_a_restart_with_an_edited_file_tightens_now_and_loosens_at_the_reset(
    h: Harness,
) -> None:
    await h.start(loss_limit(1000) + "[rule.max_contracts]\nlimit = 5\n")
    await h.stop()
    # one edit that tightens a key and loosens another (a rule turned off)
    h.write_settings(loss_limit(400))
    await h.start()
    assert limit_in_force(h) == 400
    assert {r.name for r in h.svc.engine.rules} == {"daily_loss_limit", "max_contracts"}
    pending = h.svc.status()["pending_settings"]
    assert pending["changes"] == ["[rule.max_contracts] turned off"]
    [change] = [a for a in h.svc.store.audit(ACCOUNT) if a.trigger == "settings"]
    assert "at start-up" in change.reason and "limit: 1000 -> 400" in change.reason
    h.trade("MNQ", "buy", 7)  # above the max_contracts limit still in force
    await h.gw_until(lambda: h.position("MNQ") == 5, "the excess reduced")


async def test_an_invalid_file_changes_nothing_and_says_why(h: Harness) -> None:
    await h.start(loss_limit(500))
    h.write_settings(loss_limit(-5))
    code, out = await run_cli(h.home, "reload", secret="")
    assert code == 2
    AdminAuth(h.svc.store, h.clock.now, delay=0).set_secret(SECRET)
    code, out = await run_cli(h.home, "reload", secret=SECRET)
    assert code == 2 and "nothing changed" in out and "[rule.daily_loss_limit] limit" in out
    assert "Traceback" not in out
    with pytest.raises(FsmRiskError, match=r"nothing changed: .*limit: must be a positive"):
        await h.svc.reload("admin:ops")  # what the service says (SIGHUP, or a file edited since)
    assert limit_in_force(h) == 500
    assert not [a for a in h.svc.store.audit(ACCOUNT) if a.trigger == "settings"]


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        (
            "[notify.9999]\nurls = json://127.0.0.1:9/x\n",
            "[notify.9999]: no account the service would monitor has this id or name "
            "(it would monitor: 1001 PAPER-1)",
        ),
        (
            "[general]\naccounts = 1001, 10003\n",
            "[general] accounts names 10003, which the gateway does not list",
        ),
    ],
)
async def test_a_file_the_next_start_would_refuse_is_refused_by_the_reload(
    h: Harness, extra: str, said: str
) -> None:
    """Reported: `check` and `reload` took such a file ("no change to the rules", "read at the
    next start only"), and the next start (a reboot) refused it: nothing was enforced."""
    await h.start(loss_limit(500))
    path = h.write_settings(loss_limit(400))  # a stricter limit too: nothing of it applies
    text = path.read_text()
    if extra.startswith("[general]"):  # (the harness's file has the section already)
        path.write_text(text.replace("[general]\n", extra, 1))
    else:
        path.write_text(text + extra)
    with pytest.raises(FsmRiskError) as refused:
        await h.svc.reload("admin:ops")
    assert "settings not reloaded, nothing changed" in str(refused.value)
    assert said in str(refused.value) and "the next start would refuse it" in str(refused.value)
    assert limit_in_force(h) == 500


async def test_reverting_the_file_withdraws_the_held_loosening(h: Harness) -> None:
    await h.start(loss_limit(500))
    h.write_settings(loss_limit(1000))
    await h.svc.reload("admin:ops")
    assert h.svc.status()["pending_settings"] is not None
    h.write_settings(loss_limit(500))
    text = await h.svc.reload("admin:ops")
    assert text == "the looser values held for the reset are withdrawn"
    assert h.svc.status()["pending_settings"] is None
    assert reload.Keeper(h.svc.store).pending() is None
    h.clock.set(h.svc.engine.calendar.next_daily_reset(h.clock.now()))
    await h.until(lambda: h.acct.day.start == h.clock.now(), "the reset")
    assert limit_in_force(h) == 500  # nothing loosened at the reset
    reasons = [a.reason for a in h.svc.store.audit(ACCOUNT) if a.trigger == "settings"]
    assert reasons == [
        "SETTINGS_LOOSENED: looser from the daily reset at "
        f"{h.acct.day.start.astimezone(CHICAGO):%a %Y-%m-%d %H:%M %Z}: "
        "[rule.daily_loss_limit] limit: 500 -> 1000",
        "SETTINGS_TIGHTENED: the looser values held for the reset are withdrawn",
    ]


async def test_a_change_outside_the_rules_is_named_as_read_at_the_next_start(h: Harness) -> None:
    await h.start(loss_limit(500))
    path = h.home / "settings.ini"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("alert_after_attempts = 2", "alert_after_attempts = 5"))
    out = await h.svc.reload("admin:ops")
    assert out == (
        "no change to the rules | read at the next start only: [enforcement] alert_after_attempts"
    )
    assert not [a for a in h.svc.store.audit(ACCOUNT) if a.trigger == "settings"]


@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="SIGHUP exists on POSIX only")
async def test_sighup_reloads_the_settings(h: Harness) -> None:
    await h.start(loss_limit(1000))
    loop = asyncio.get_running_loop()
    runtime.on_sighup(loop, h.svc)
    try:
        h.write_settings(loss_limit(300))
        os.kill(os.getpid(), signal.SIGHUP)
        await h.until(lambda: limit_in_force(h) == 300, "reloaded on SIGHUP")
    finally:
        loop.remove_signal_handler(signal.SIGHUP)
    [change] = [a for a in h.svc.store.audit(ACCOUNT) if a.trigger == "settings"]
    assert change.actor == "system:SIGHUP"


# --- the self-lock ---------------------------------------------------------------------------


async def test_the_trader_locks_themselves_through_the_service_without_a_secret(
    h: Harness,
) -> None:
    await h.start(loss_limit(1000))
    AdminAuth(h.svc.store, h.clock.now, delay=0).set_secret(SECRET)
    h.trade("MNQ", "buy", 1)
    await h.until(lambda: MNQ in h.acct.positions, "the position reached the service")
    code, out = await run_cli(h.home, "lock", "--for", "2h", "--reason", "tilted")
    assert code == 0, out
    assert f"account {ACCOUNT}: locked by trader:" in out and "Cooldown until" in out
    await h.until(lambda: h.acct.state is State.Cooldown, "flattened, then the cooldown")
    assert h.position("MNQ") == 0
    hold = h.acct.holds[self_source(State.Cooldown)]
    assert hold.until == h.clock.now() + timedelta(hours=2)
    [entry] = [
        a for a in h.svc.store.audit(ACCOUNT) if a.trigger == "breach" and a.contract_id is None
    ]
    assert entry.actor.startswith("trader:") and "tilted" in entry.reason
    # a shorter self-lock changes nothing; the trader cannot unlock; the admin can
    code, out = await run_cli(h.home, "lock", "--for", "30m")
    assert code == 0 and "never shortened" in out
    assert h.acct.holds[self_source(State.Cooldown)].until == hold.until
    code, out = await run_cli(
        h.home, "transition", str(ACCOUNT), "--to", "Trading", "--reason", "x", secret=""
    )
    assert code == 2 and h.acct.state is State.Cooldown
    code, out = await run_cli(
        h.home, "transition", str(ACCOUNT), "--to", "Trading", "--reason", "ok", secret=SECRET
    )
    assert code == 0, out
    await h.until(lambda: h.acct.state is State.Trading, "the admin removed the lock")


async def test_the_service_answers_a_self_lock_in_the_display_time_zone(h: Harness) -> None:
    display = BASE.replace("[general]\n", "[general]\ndisplay_timezone = America/New_York\n")
    (h.home / "settings.ini").write_text(display + loss_limit(1000), encoding="utf-8")
    await h.start()  # Monday 09:00 Chicago
    code, out = await run_cli(h.home, "lock", "--until", "21:00")  # the session's 21:00
    assert code == 0, out
    assert "Cooldown until 2026-11-23 22:00 EST" in out and "CST" not in out, out


async def test_a_self_lock_reason_reaches_the_audit_log_as_one_plain_line(h: Harness) -> None:
    """No secret is needed to lock: a reason must not forge a line of `history`."""
    await h.start(loss_limit(1000))
    forged = "tilted\n2020-01-01 09:00:00Z  1001  LockedDaily -> Trading  force\x1b[2J"
    code, out = await run_cli(h.home, "lock", "--for", "1h", "--reason", forged)
    assert code == 0, out
    [entry] = [a for a in h.svc.store.audit(ACCOUNT) if a.trigger == "breach"]
    assert "\n" not in entry.reason and "\x1b" not in entry.reason
    assert entry.reason.endswith(
        "tilted 2020-01-01 09:00:00Z 1001 LockedDaily -> Trading force [2J"
    )
    code, out = await run_cli(h.home, "history")
    assert code == 0 and not any(line.startswith("2020-01-01") for line in out.splitlines())


async def test_a_self_lock_with_no_service_running_goes_through_the_database(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    await h.start(loss_limit(1000))
    await h.stop()
    # the command's clock is the service's, moments later: one past a reset since the stop
    # is refused (the trading day it would begin is the service's to begin: test_cli.py)
    h.clock.advance(minutes=5)
    monkeypatch.setattr(cli, "_now", h.clock.now)
    settings = str(h.home / "settings.ini")
    result = CliRunner().invoke(cli.main, ["lock", "--rest-of-day", "--settings", settings])
    assert result.exit_code == 0, result.output
    assert "LockedDaily until" in result.output
    await h.start()
    assert h.acct.state is State.LockedDaily
    [entry] = [a for a in h.svc.store.audit(ACCOUNT) if a.trigger == "breach"]
    assert entry.actor.startswith("trader:") and entry.rule_id == "SELF:LockedDaily"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "give exactly one of --until TIME, --for DURATION, --rest-of-day"),
        (("--for", "2h", "--rest-of-day"), "give exactly one of"),
        (("--for", "90"), "a duration with units is needed (e.g. 90m, 2h, 1h30m, 1d)"),
        (("--for", "soon"), "a duration with units is needed"),
        (("--for", "40d"), "a self-lock ends within 31 days"),
        (("--for", "999999999999999999d"), "a self-lock ends within 31 days"),
        (("--until", "25:00"), "not a time of day"),
        (("--until", "tomorrow"), "give HH:MM, 'YYYY-MM-DD HH:MM' or an ISO time"),
        (("--until", "2020-01-01 10:00"), "is in the past"),
        (("9999", "--for", "1h"), "unknown account '9999' (one of: 1001"),
    ],
)
async def test_a_bad_lock_request_is_refused_with_one_clear_line(
    h: Harness, args: tuple[str, ...], message: str
) -> None:
    await h.start(loss_limit(1000))
    code, out = await run_cli(h.home, "lock", *args)
    assert code == 2 and message in out and "Traceback" not in out, out
    assert h.acct.state is State.Trading


@pytest.mark.paper(accounts=_accounts("1001: PAPER-1: 50000: true, 1002: PAPER-2: 50000: true"))
async def test_an_account_the_service_does_not_monitor_is_refused_not_locked_in_name(
    h: Harness,
) -> None:
    """Reported: with 1002 left out of [general] accounts (the database still holding it from
    an earlier run), `lock 1002 --for 1h` answered "now Cooldown" and an admin's transition
    was accepted, while nothing watched 1002: the trader's buy there stayed open."""
    await h.start(loss_limit(500))
    await h.until(lambda: 1002 in h.svc.engine.accounts, "1002 monitored and stored")
    await h.stop()
    path = h.write_settings(loss_limit(500))
    path.write_text(path.read_text().replace("[general]\n", "[general]\naccounts = 1001\n", 1))
    await h.start()
    assert h.svc.account_ids == [1001] and 1002 in h.svc.engine.accounts
    refusal = "account 1002 (PAPER-2) is not monitored by the running service"
    code, out = await run_cli(h.home, "lock", "1002", "--for", "1h")
    assert code != 0 and refusal in out and "1001 PAPER-1" in out, out
    AdminAuth(h.svc.store, h.clock.now, delay=0).set_secret(SECRET)
    code, out = await run_cli(
        h.home, "transition", "1002", "--to", "LockedDaily", "--reason", "x", secret=SECRET
    )
    assert code != 0 and refusal in out, out
    assert h.svc.engine.accounts[1002].state is State.Trading
    code, out = await run_cli(h.home, "status", "PAPER-2")
    assert code != 0 and refusal in out, out
    code, out = await run_cli(h.home, "status", "--json")
    assert code == 0 and [a["account_id"] for a in json.loads(out)["accounts"]] == [1001]
    code, out = await run_cli(h.home, "history", "1002")  # its audit log is still there
    assert code == 0, out


async def test_the_start_up_log_names_the_rules_in_force_not_the_files(h: Harness) -> None:
    """Reported: restarted with a rule turned off in the file (a loosening held until the
    reset), the start-up line listed the file's rules, leaving out the one still enforced."""
    await h.start(loss_limit(500) + "[rule.max_contracts]\nlimit = 4\n")
    await h.stop()
    h.logs.clear()
    h.write_settings(loss_limit(500))
    await h.start()
    [line] = [m for m in h.logs if "FSM:SETTINGS_LOADED" in m and " rules: " in m]
    assert "2 rules: RULE-001 max_contracts, RULE-003 daily_loss_limit" in line, line


async def test_a_typo_in_the_file_does_not_block_a_lock_or_an_override_of_the_running_service(
    h: Harness,
) -> None:
    """Reported: with a typo anywhere in settings.ini (refused by reload and SIGHUP, the
    service running on what it loaded), `lock` and `transition` stopped at the parse error:
    the trader could not lock, nor the admin override, until the file was fixed."""
    await h.start(loss_limit(500))
    path = h.home / "settings.ini"
    path.write_text(path.read_text() + "[rule.max_contract]\nlimit = 3\n")
    code, out = await run_cli(h.home, "lock", "--for", "1h")
    assert code == 0 and "now Cooldown" in out, out
    assert "warning: " in out and "[rule.max_contract]" in out, out
    AdminAuth(h.svc.store, h.clock.now, delay=0).set_secret(SECRET)
    code, out = await run_cli(
        h.home, "transition", "1001", "--to", "LockedDaily", "--reason", "x", secret=SECRET
    )
    assert code == 0 and "LockedDaily" in out, out
    assert h.acct.state is State.LockedDaily
    await h.stop()
    code, out = await run_cli(h.home, "lock", "--for", "1h")  # no service: the file must load
    assert code == 2 and "[rule.max_contract]" in out and "now Cooldown" not in out, out


async def test_a_reload_asked_with_another_settings_file_is_refused_naming_both(
    h: Harness,
) -> None:
    """Reported: `reload` with --settings naming another file checked that file and answered
    with the changes of the service's own file, never saying which was read; the other
    file's stricter limit was never applied."""
    await h.start(loss_limit(500))
    AdminAuth(h.svc.store, h.clock.now, delay=0).set_secret(SECRET)
    own = h.home / "settings.ini"
    (h.home / "other.ini").write_text(own.read_text().replace("limit = 500", "limit = 300"))
    code, out = await run_cli(h.home, "reload", secret=SECRET, settings="other.ini")
    assert code == 2 and "settings not reloaded, nothing changed" in out, out
    assert f"the running service reads {own.resolve()}" in out and "other.ini" in out, out
    assert limit_in_force(h) == 500
    code, out = await run_cli(h.home, "reload", secret=SECRET)  # its own file: reloaded
    assert code == 0, out


async def test_a_restart_with_the_same_held_loosening_adds_no_settings_row(h: Harness) -> None:
    """Reported: a loosening held by a reload was audited again at every later start, a
    "Trading -> Trading settings" row (and a diagram step) for a change that did not happen."""
    await h.start(loss_limit(500))
    h.write_settings(loss_limit(1000))
    await h.svc.reload("admin:ops")
    rows = [a for a in h.svc.store.audit(ACCOUNT) if a.trigger == "settings"]
    assert len(rows) == 1
    for _ in range(2):
        await h.stop()
        h.clock.advance(minutes=5)
        await h.start()
        assert h.svc.status()["pending_settings"] is not None  # still held
    assert [a for a in h.svc.store.audit(ACCOUNT) if a.trigger == "settings"] == rows


async def test_a_stricter_limit_reloaded_while_the_database_refuses_writes_is_saved_later(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reported: a limit tightened by a reload during a full disk was never written; once the
    disk was freed, a restart with the looser file applied it at once (no hold until the
    reset). The settings not saved are written once the database takes them."""
    import sqlite3

    await h.start(loss_limit(1000))
    AdminAuth(h.svc.store, h.clock.now, delay=0).set_secret(SECRET)
    real = reload.Keeper.save
    full = True

    def save(self: reload.Keeper, *args: Any, **kwargs: Any) -> None:
        if full:
            raise sqlite3.OperationalError("database or disk is full")
        real(self, *args, **kwargs)

    monkeypatch.setattr(reload.Keeper, "save", save)
    h.write_settings(loss_limit(500))
    code, out = await run_cli(h.home, "reload", "--admin", "ops", secret=SECRET)
    assert code == 0 and "1000 -> 500" in out, out
    assert limit_in_force(h) == 500
    assert any("settings in force are NOT saved" in m for m in h.logs)
    assert reload.Keeper(h.svc.store).in_force() != {
        "daily_loss_limit": {"enabled": "true", "limit": "500"}
    }
    full = False  # the disk freed: written at the next try (every 3 s)
    await h.until(
        lambda: (
            reload.Keeper(h.svc.store).in_force()
            == {"daily_loss_limit": {"enabled": "true", "limit": "500"}}
        ),
        "the stricter settings saved",
        timeout=10,
    )
    h.write_settings(loss_limit(1000))
    await h.stop()
    await h.start()
    assert limit_in_force(h) == 500  # the looser file waits for the reset
