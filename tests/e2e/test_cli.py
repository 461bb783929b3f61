"""The CLI against a real database: check, status, history, admin set-secret, transition."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from freezegun import freeze_time

from fsm_risk import bootstrap
from fsm_risk.cli import main
from fsm_risk.core.effects import RecordTransition
from fsm_risk.core.events import Side
from tests.factories import ES, MNQ, NQ, T0, account, fill, position, quote

SETTINGS = """
[general]
database = state.db
log_file = fsm.log
[admin]
failure_delay_seconds = 0
max_failures = 3
[rule.max_contracts]
limit = 5
[rule.daily_loss_limit]
limit = 1000
"""


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    (tmp_path / "settings.ini").write_text(SETTINGS)
    with freeze_time(T0, tick=True):  # Monday 09:00 Chicago: far from any reset
        yield tmp_path


def cli(home: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    runner = CliRunner()
    result = runner.invoke(
        main,
        [*args, "--settings", str(home / "settings.ini")],
        env=env or {},
        catch_exceptions=False,
    )
    return result.exit_code, result.output


def seed_locked_account(home: Path) -> None:
    """An account that hit its daily loss limit, and holds an MNQ position."""
    settings = bootstrap.load_settings(str(home / "settings.ini"))
    store = bootstrap.open_store(settings)
    now = datetime.now(UTC)
    engine = bootstrap.build_engine(settings)
    effects = []
    for ev in (
        account(),
        fill(ES, Side.BUY, 1, "6000", at=now),
        fill(ES, Side.SELL, 1, "5919.75", pnl="-1003.12", at=now),
        position(ES, 0, "0", at=now),
        position(MNQ, 2, "21000", at=now),
        quote(MNQ, "20990", at=now),
    ):
        effects.extend(engine.handle(ev, now))
    audit = [e.entry for e in effects if isinstance(e, RecordTransition)]
    store.commit(engine.take_changes(), audit, engine.marks)
    store.close()


def test_check_prints_the_effective_configuration(home: Path) -> None:
    code, out = cli(home, "check")
    assert code == 0
    assert "[rule.daily_loss_limit]  # RULE-003" in out and "limit = 1000" in out
    assert "# OK: 2 rules enabled" in out


def test_check_shows_the_paper_gateways_maintenance_break(home: Path) -> None:
    """Reported: with `[paper] maintenance_break = 16:00-17:00`, `check` failed with
    "unexpected TypeError" (it took the span for a weekday and a time); `serve` ran."""
    path = home / "settings.ini"
    path.write_text(path.read_text() + "[paper]\nmaintenance_break = 16:00-17:00\n")
    code, out = cli(home, "check")
    assert code == 0, out
    assert "maintenance_break = 16:00-17:00" in out


def test_check_reports_every_problem_on_its_own_line_and_fails(home: Path) -> None:
    (home / "settings.ini").write_text("[rule.daily_loss_limit]\nlimit = -5\nlimt = 3\n")
    r = subprocess.run(
        [sys.executable, "-m", "fsm_risk", "check", "--settings", str(home / "settings.ini")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith("error: ") for line in lines)
    assert "Traceback" not in r.stderr


def test_check_names_a_root_it_does_not_know_and_refuses_a_contract_named_as_a_root(
    home: Path,
) -> None:
    rules = "[rule.max_contracts_per_instrument]\nlimits = "
    (home / "settings.ini").write_text(SETTINGS + rules + "ZZZ: 1, MNQ: 2\n")
    code, out = cli(home, "check")
    assert code == 0, out
    assert (
        "# note: [rule.max_contracts_per_instrument] limits: ZZZ is not a root the service "
        "knows; kept, it holds only on contracts whose root is ZZZ\n" in out
    )
    assert out.count("not a root the service knows") == 1 and "# OK: 3 rules" in out
    (home / "settings.ini").write_text(SETTINGS + rules + "MNQZ6: 1, MESS: 2\n")
    code, out = cli(home, "check")
    assert code == 2 and out == (
        f"error: {home / 'settings.ini'}: [rule.max_contracts_per_instrument] limits: "
        "'MNQZ6' looks like a contract; per-root limits take the root: MNQ\n"
    )


def test_check_refuses_a_decimal_comma_naming_section_key_and_value(home: Path) -> None:
    (home / "settings.ini").write_text("[rule.trailing_drawdown]\ndrawdown = 2000,00\n")
    code, out = cli(home, "check")
    assert code == 2 and "OK" not in out
    assert out.startswith("error: ") and len(out.strip().splitlines()) == 1
    assert "[rule.trailing_drawdown] drawdown: must be an amount in dollars" in out
    assert "12,500.50" in out and "got '2000,00'" in out
    (home / "settings.ini").write_text("[rule.trailing_drawdown]\ndrawdown = 2,000\n")
    code, out = cli(home, "check")
    assert code == 0 and "drawdown = 2000" in out


def test_missing_settings_file_is_one_line(home: Path) -> None:
    result = CliRunner().invoke(main, ["check", "--settings", str(home / "missing.ini")])
    assert result.exit_code == 2
    assert result.output == f"error: {home / 'missing.ini'}: settings file not found\n"


def test_status_shows_state_lock_pnl_rule_usage_and_positions(home: Path) -> None:
    seed_locked_account(home)
    code, out = cli(home, "status")
    assert code == 0, out
    assert "Account 1001" in out and "LockedDaily until Mon 17:00 CST, in " in out
    assert "RULE-003" in out and "daily_loss_limit" in out
    assert "realized -1003.12" in out
    assert "MNQ.Z26" in out and "long" in out
    assert "resets: daily Mon 17:00 CST, weekly Sun 17:00 CST" in out
    code, out = cli(home, "status", "9999")
    assert code == 2 and "unknown account '9999'" in out


def test_status_watch_refreshes(home: Path) -> None:
    seed_locked_account(home)
    code, out = cli(home, "status", "--watch", "--interval", "0", "--iterations", "2")
    assert code == 0 and out.count("Account 1001") == 2


def test_history_lists_the_audit_log(home: Path) -> None:
    seed_locked_account(home)
    code, out = cli(home, "history")
    assert code == 0
    assert "Trading ->" in out and "Flattening" in out and "RULE-003" in out
    code, out = cli(home, "history", "1001", "--json")
    assert code == 0 and '"from": "Trading"' in out


def test_a_self_lock_replies_in_the_display_time_zone(home: Path) -> None:
    (home / "settings.ini").write_text(
        SETTINGS.replace("[general]\n", "[general]\ndisplay_timezone = America/New_York\n")
    )
    seed_locked_account(home)
    code, out = cli(home, "lock", "--until", "21:00")  # the session's time: 21:00 Chicago
    assert code == 0, out
    assert "Cooldown until 2026-11-23 22:00 EST" in out and "CST" not in out


def test_a_self_lock_into_the_skipped_hour_replies_with_the_real_instant(tmp_path: Path) -> None:
    (tmp_path / "settings.ini").write_text(SETTINGS)
    with freeze_time(datetime(2027, 3, 14, 6, 0, tzinfo=UTC), tick=True):  # 00:00 CST
        seed_locked_account(tmp_path)
        code, out = cli(tmp_path, "lock", "--until", "02:30")  # 02:30 never happens that day
    assert code == 0, out
    assert "Cooldown until 2027-03-14 03:30 CDT" in out


def dump(home: Path) -> list[str]:
    db = sqlite3.connect(home / "state.db")
    try:
        return list(db.iterdump())
    finally:
        db.close()


@pytest.mark.parametrize("ahead", [timedelta(days=1), timedelta(hours=8, minutes=5)])
def test_a_self_lock_without_the_service_never_ends_a_lock_or_the_day_by_this_clock(
    tmp_path: Path, ahead: timedelta
) -> None:
    """Reported: `fsm-risk lock 1001 --for 1m` with the service stopped and the clock moved
    past the reset released the account's lock and rolled the day to P&L 0.00: a command that
    may only add a lock ended one. Refused, in one line, and nothing written."""
    (tmp_path / "settings.ini").write_text(SETTINGS)
    with freeze_time(T0, tick=True):
        seed_locked_account(tmp_path)  # LockedDaily until 17:00 Chicago, the day -1,003.12
    stored = dump(tmp_path)
    assert any("LockedDaily" in line for line in stored)
    with freeze_time(T0 + ahead, tick=True):  # past the reset (and a day on)
        code, out = cli(tmp_path, "lock", "1001", "--for", "1m")
    assert code == 2, out
    assert out.count("\n") == 1 and out.startswith("error: not locked, nothing changed")
    # (the lock itself outlives its end until the service reads the account's trades: only
    # the day's roll is named)
    assert "begin account 1001's trading day of" in out
    assert "start the service, or lock while it runs" in out
    assert dump(tmp_path) == stored


def test_transition_needs_an_admin_secret_to_be_set_first(home: Path) -> None:
    seed_locked_account(home)
    code, out = cli(
        home,
        "transition",
        "1001",
        "--to",
        "Trading",
        "--reason",
        "x",
        env={"FSM_RISK_ADMIN_SECRET": "whatever-secret"},
    )
    assert code == 2 and "no admin secret is set" in out


def test_admin_transition_with_right_and_wrong_secret(home: Path) -> None:
    seed_locked_account(home)
    secret_file = home / "secret"
    secret_file.write_text("correct horse battery staple\n")
    code, out = cli(home, "admin", "set-secret", "--secret-file", str(secret_file))
    assert code == 0, out
    db = sqlite3.connect(home / "state.db")
    stored = db.execute("SELECT salt, hash, params FROM admin").fetchone()
    assert "correct horse" not in "".join(stored) and '"scrypt"' in stored[2]

    wrong = {"FSM_RISK_ADMIN_SECRET": "not the secret at all"}
    code, out = cli(home, "transition", "1001", "--to", "Trading", "--reason", "x", env=wrong)
    assert code == 2 and "wrong admin secret" in out
    assert db.execute("SELECT count(*) FROM auth_failure").fetchone()[0] == 1
    log = (home / "fsm.log").read_text()
    assert "wrong admin secret" in log and "not the secret at all" not in log

    code, out = cli(
        home,
        "transition",
        "1001",
        "--to",
        "Trading",
        "--reason",
        "desk approved",
        "--admin",
        "ops",
        "--secret-file",
        str(secret_file),
    )
    assert code == 0, out
    assert "account 1001: LockedDaily -> Trading (forced by admin:ops: desk approved)" in out
    code, out = cli(home, "history", "1001")
    assert "admin:ops" in out and "force" in out and "desk approved" in out


def test_wrong_secrets_slow_down_but_never_lock_out_the_right_one(home: Path) -> None:
    seed_locked_account(home)
    secret_file = home / "secret"
    secret_file.write_text("correct horse battery staple")
    cli(home, "admin", "set-secret", "--secret-file", str(secret_file))
    wrong = {"FSM_RISK_ADMIN_SECRET": "guess-guess-guess"}
    for _ in range(3):
        cli(home, "transition", "1001", "--to", "Trading", "--reason", "x", env=wrong)
    code, out = cli(
        home,
        "transition",
        "1001",
        "--to",
        "Trading",
        "--reason",
        "x",
        "--secret-file",
        str(secret_file),
    )
    assert code == 0, out  # wrong guesses cost time; the right secret still works


def test_transition_validates_the_target_state(home: Path) -> None:
    seed_locked_account(home)
    code, out = cli(home, "transition", "1001", "--to", "Paused", "--reason", "x")
    assert code == 2 and "Paused" in out
    code, out = cli(
        home,
        "transition",
        "1001",
        "--contract",
        MNQ,
        "--to",
        "LockedWeekly",
        "--reason",
        "x",
        env={"FSM_RISK_ADMIN_SECRET": "x" * 20},
    )
    assert code == 2 and "unknown contract state 'LockedWeekly'" in out


def test_admin_can_lock_one_contract(home: Path) -> None:
    seed_locked_account(home)
    secret_file = home / "secret"
    secret_file.write_text("correct horse battery staple")
    cli(home, "admin", "set-secret", "--secret-file", str(secret_file))
    args = ("--to", "LockedDaily", "--reason", "news", "--secret-file", str(secret_file))
    code, out = cli(home, "transition", "1001", "--contract", NQ, *args)
    assert code == 0, out
    # typed with the root, NQ is the contract the gateway writes with its product code, ENQ
    enq = NQ.replace(".NQ.", ".ENQ.")
    assert out.startswith(f"account 1001 contract {enq}: Trading -> LockedDaily (forced by")
    # a contract holding a position is locked, then its position closed on sight
    code, out = cli(home, "transition", "1001", "--contract", MNQ, *args)
    assert code == 0, out
    assert f"contract {MNQ}: Flattening -> LockedDaily" in out
    assert "now Flattening (an open position is being closed)" in out


def test_offline_a_contract_argument_is_a_root_or_a_full_id_and_anything_else_refused(
    home: Path,
) -> None:
    seed_locked_account(home)
    secret_file = home / "secret"
    secret_file.write_text("correct horse battery staple")
    cli(home, "admin", "set-secret", "--secret-file", str(secret_file))
    args = ("--to", "LockedDaily", "--reason", "news", "--secret-file", str(secret_file))
    code, out = cli(home, "transition", "1001", "--contract", "ZZZ", *args)
    assert code == 2 and "unknown contract 'ZZZ'" in out and "MNQ" in out, out
    code, out = cli(home, "transition", "1001", "--contract", "mnq", *args)
    assert code == 0, out
    assert "contract MNQ (every MNQ contract, held now or opened later)" in out
