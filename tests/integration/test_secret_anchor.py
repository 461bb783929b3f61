"""The admin secret's trust anchor (`fsm_risk.anchor`, ``[admin] secret_anchor``): a trader who
owns the database files can plant his own secret in it and clear the note that it is not to be
trusted; a settings file he cannot write can hold the admin secret's hash, and then only a
secret matching it is the admin's, whatever the database holds. Never printed or logged."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from click.testing import CliRunner
from freezegun import freeze_time

from fsm_risk import bootstrap, config
from fsm_risk.adapters.auth import AdminAuth
from fsm_risk.cli import main
from fsm_risk.core.lost import META_PREFIX, UNTRUSTED_KEY, LostState
from tests.factories import T0, account

SETTINGS = """
[general]
database = state.db
log_file = fsm.log
# the admin's comment, kept
[admin]
failure_delay_seconds = 0
"""
ADMIN_SECRET = "the-admins-secret-123"
TRADER_SECRET = "trader-secret-456789"


def _cli(home: Path, *args: str) -> tuple[int, str]:
    r = CliRunner().invoke(main, [*args, "--settings", str(home / "settings.ini")])
    return r.exit_code, r.output


def _anchored(tmp_path: Path) -> tuple[Path, str]:
    """A settings file anchored with `admin anchor`, and what the command printed."""
    (tmp_path / "settings.ini").write_text(SETTINGS)
    (tmp_path / "admin.secret").write_text(ADMIN_SECRET)
    code, out = _cli(tmp_path, "admin", "anchor", "--secret-file", str(tmp_path / "admin.secret"))
    assert code == 0, out
    return tmp_path, out


def _planted(home: Path, *, untrusted: bool) -> None:
    """What a trader who owns the database can do: account 1001 stored (Trading), his own
    secret written as the database's, a lost-state note, and the note that the secret is not
    trusted left (``untrusted``) or removed."""
    settings = bootstrap.load_settings(str(home / "settings.ini"))
    store, engine = bootstrap.open_store(settings), bootstrap.build_engine(settings)
    engine.handle(account(), T0)
    store.commit(engine.take_changes(), [], engine.marks)
    AdminAuth(store, lambda: T0, delay=0).set_secret(TRADER_SECRET)  # no anchor: the raw row
    note = LostState(
        1001, T0, T0 - timedelta(days=1), T0 + timedelta(days=4), 2,
        Decimal("-1216.60"), Decimal("-1216.60"), secret_held=True,
    )  # fmt: skip
    store.set_meta(META_PREFIX + "1001", json.dumps(note.to_dict()))
    store.set_meta(UNTRUSTED_KEY, T0.isoformat() if untrusted else None)
    store.close()


def _force(home: Path, secret: str, to: str = "LockedDaily") -> tuple[int, str]:
    (home / "force.secret").write_text(secret)
    with freeze_time(T0 + timedelta(minutes=10)):
        return _cli(
            home, "transition", "1001", "--to", to, "--reason", "r",
            "--secret-file", str(home / "force.secret"),
        )  # fmt: skip


def test_the_anchor_is_written_into_the_settings_and_never_shown(tmp_path: Path) -> None:
    home, out = _anchored(tmp_path)
    text = (home / "settings.ini").read_text()
    assert "# the admin's comment, kept" in text and "failure_delay_seconds = 0" in text, text
    value = config.load(home / "settings.ini").admin.secret_anchor
    assert value is not None and value.matches(ADMIN_SECRET) and not value.matches(TRADER_SECRET)
    assert f"secret_anchor = {value.text}" in text, text
    assert "anchored in" in out and "restart the service" in out, out
    code, checked = _cli(home, "check")
    assert code == 0 and "# secret_anchor = (set, hidden)" in checked, checked
    log = (home / "fsm.log").read_text() if (home / "fsm.log").exists() else ""
    for told in (out, checked, log, repr(value)):
        assert value.digest.hex() not in told and ADMIN_SECRET not in told, told


def test_only_the_anchored_secret_is_the_admins_whatever_the_database_holds(
    tmp_path: Path,
) -> None:
    home, _ = _anchored(tmp_path)
    _planted(home, untrusted=False)  # the trader's secret, "trusted" by the database
    code, out = _force(home, TRADER_SECRET)
    assert code != 0 and "wrong admin secret" in out, f"the planted secret was taken: {out}"
    code, out = _force(home, ADMIN_SECRET)
    assert code == 0 and "Trading -> LockedDaily" in out, out


def test_the_anchored_secret_needs_no_take_over_on_a_lost_database(tmp_path: Path) -> None:
    home, _ = _anchored(tmp_path)
    _planted(home, untrusted=True)  # the database says its secret is not trusted
    code, out = _force(home, ADMIN_SECRET)
    assert code == 0 and "Trading -> LockedDaily" in out, out
    with freeze_time(T0 + timedelta(minutes=20)):
        code, out = _cli(home, "status")
    assert code == 0 and "CRITICAL: STATE LOST" in out and "NOT trusted" not in out, out
    assert "admin secret anchored in the settings" in out, out


def test_no_secret_is_set_in_the_database_under_an_anchor(tmp_path: Path) -> None:
    home, _ = _anchored(tmp_path)
    _planted(home, untrusted=True)
    (home / "new.secret").write_text(TRADER_SECRET + "-2")
    for extra in ((), ("--take-over",)):
        code, out = _cli(
            home, "admin", "set-secret", *extra, "--secret-file", str(home / "new.secret")
        )
        assert code != 0 and "anchored in the settings" in out, out
    code, out = _force(home, TRADER_SECRET + "-2")
    assert code != 0 and "wrong admin secret" in out, out


def test_a_bad_anchor_is_refused_without_repeating_it(tmp_path: Path) -> None:
    bad = "scrypt$32768$8$1$" + "ab" * 16 + "$" + "zz" * 32
    (tmp_path / "settings.ini").write_text(SETTINGS + f"secret_anchor = {bad}\n")
    code, out = _cli(tmp_path, "check")
    assert code != 0 and "secret_anchor" in out and "scrypt$N$r$p$SALT$HASH" in out, out
    assert "zz" * 32 not in out and "ab" * 16 not in out, out


def test_no_anchor_keeps_the_databases_secret(tmp_path: Path) -> None:
    """A machine with no anchor: the database's secret, as before."""
    (tmp_path / "settings.ini").write_text(SETTINGS)
    _planted(tmp_path, untrusted=False)
    code, out = _force(tmp_path, TRADER_SECRET)
    assert code == 0 and "Trading -> LockedDaily" in out, out


def test_service_install_says_when_the_settings_hold_no_anchor(tmp_path: Path) -> None:
    from fsm_risk import install

    home, _ = _anchored(tmp_path)
    for platform in ("linux", "darwin", "win32"):
        notes = [s.text for s in install.install_plan(SETTINGS, platform).steps if s.kind == "note"]
        assert any("no [admin] secret_anchor" in n for n in notes), (platform, notes)
        anchored = (home / "settings.ini").read_text()
        plan = install.install_plan(anchored, platform)
        assert not any("secret_anchor" in s.text for s in plan.steps if s.kind == "note")
        [written] = [s for s in plan.steps if s.path and s.path.name == "settings.ini"]
        assert b"secret_anchor = scrypt$" in written.content  # carried into the installed file
