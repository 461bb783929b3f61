"""The first `admin set-secret` of a database: taken on a new install (an empty database, or one
a first `serve` filled with accounts new to it), refused without ``--take-over`` on one whose
accounts started with no stored state although they had traded that week (`core.lost`): the
locks, the peak and the audit before it are gone, and whoever sets the first secret there can
end any lock."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from click.testing import CliRunner
from freezegun import freeze_time

from fsm_risk import bootstrap
from fsm_risk.cli import main
from fsm_risk.core.lost import META_PREFIX, LostState
from tests.factories import T0, account

SETTINGS = """
[general]
database = state.db
log_file = fsm.log
[admin]
failure_delay_seconds = 0
"""
SECRET = "correct horse battery staple"


def _home(tmp_path: Path, lost: bool) -> Path:
    (tmp_path / "settings.ini").write_text(SETTINGS)
    (tmp_path / "secret").write_text(SECRET)
    store = bootstrap.open_store(bootstrap.load_settings(str(tmp_path / "settings.ini")))
    if lost:
        note = LostState(
            1001, T0, T0 - timedelta(days=1), T0 + timedelta(days=4), 2,
            Decimal("-1216.60"), Decimal("-1216.60"),
        )  # fmt: skip
        store.set_meta(META_PREFIX + "1001", json.dumps(note.to_dict()))
    store.close()
    return tmp_path


def _set_secret(home: Path, *extra: str) -> tuple[int, str]:
    args = ["admin", "set-secret", "--secret-file", str(home / "secret"), *extra]
    r = CliRunner().invoke(main, [*args, "--settings", str(home / "settings.ini")])
    return r.exit_code, r.output


def _admin_set(home: Path) -> bool:
    store = bootstrap.open_store(bootstrap.load_settings(str(home / "settings.ini")))
    try:
        return store.admin() is not None
    finally:
        store.close()


def test_a_new_database_takes_its_first_secret(tmp_path: Path) -> None:
    home = _home(tmp_path, lost=False)
    code, out = _set_secret(home)
    assert code == 0 and "admin secret stored" in out, out
    assert _admin_set(home)


def test_a_database_that_lost_its_state_refuses_a_first_secret_without_take_over(
    tmp_path: Path,
) -> None:
    home = _home(tmp_path, lost=True)
    code, out = _set_secret(home)
    assert code != 0, out
    assert "account 1001 started on it with no stored state" in out and "--take-over" in out
    assert not _admin_set(home)
    code, out = _set_secret(home, "--take-over")
    assert code == 0 and "admin secret stored" in out, out
    assert _admin_set(home)
    log = (home / "fsm.log").read_text()
    assert "--take-over" in log and "CRITICAL" in log


def test_the_offline_status_shows_the_lost_state_for_its_week(tmp_path: Path) -> None:
    home = _home(tmp_path, lost=True)
    settings = bootstrap.load_settings(str(home / "settings.ini"))
    store, engine = bootstrap.open_store(settings), bootstrap.build_engine(settings)
    engine.handle(account(), T0)  # the account the replaced database holds since
    store.commit(engine.take_changes(), [], engine.marks)
    store.close()
    args = ["status", "--settings", str(home / "settings.ini")]
    with freeze_time(T0):
        text = CliRunner().invoke(main, args).output
        snap = json.loads(CliRunner().invoke(main, [*args, "--json"]).output)
    assert "CRITICAL: STATE LOST" in text and "2 trade(s) this week" in text, text
    assert snap["state_lost"] == [1001] and snap["accounts"][0]["lost_state"]["trades"] == 2
    with freeze_time(T0 + timedelta(days=4)):  # the week it concerns has ended
        snap = json.loads(CliRunner().invoke(main, [*args, "--json"]).output)
    assert snap["state_lost"] == [] and snap["accounts"][0]["lost_state"] is None
