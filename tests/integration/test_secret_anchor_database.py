"""Found by a review: the admin secret's anchor against a trader who owns the database files but
not the settings file (the anchor's own threat model): the wrong-secret delay survives his
emptying the failures table, anchoring leaves no hash of the secret in the database to guess at
offline, and settings of his own without the anchor are refused on an anchored database (they
ended the lock offline). Beside them: the take-over on a shared PostgreSQL store, and
`admin anchor --remove`, the way back to a database's own secret."""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
from datetime import timedelta
from pathlib import Path

from click.testing import CliRunner
from freezegun import freeze_time

from fsm_risk import bootstrap, config
from fsm_risk.adapters.auth import AdminAuth
from fsm_risk.cli import main
from fsm_risk.errors import AuthError
from tests.factories import T0, account

SETTINGS = """
[general]
database = state.db
log_file = fsm.log
[admin]
failure_delay_seconds = 1
"""
ADMIN_SECRET = "the-admins-secret-123"
TRADER_SECRET = "trader-secret-456789"


def _cli(settings: Path, *args: str) -> tuple[int, str]:
    r = CliRunner().invoke(main, [*args, "--settings", str(settings)])
    return r.exit_code, r.output


def _anchored(home: Path) -> Path:
    (home / "settings.ini").write_text(SETTINGS)
    (home / "admin.secret").write_text(ADMIN_SECRET)
    code, out = _cli(home / "settings.ini", "admin", "anchor", "--secret-file",
                     str(home / "admin.secret"))  # fmt: skip
    assert code == 0, out
    return home / "settings.ini"


def _stored_account(settings_file: Path) -> None:
    settings = bootstrap.load_settings(str(settings_file))
    store, engine = bootstrap.open_store(settings), bootstrap.build_engine(settings)
    engine.handle(account(), T0)
    store.commit(engine.take_changes(), [], engine.marks)
    store.close()


def _force(settings_file: Path, secret: str, to: str, minutes: int = 10) -> tuple[int, str]:
    f = settings_file.parent / f"force-{abs(hash(secret))}.secret"
    f.write_text(secret)
    with freeze_time(T0 + timedelta(minutes=minutes)):
        return _cli(settings_file, "transition", "1001", "--to", to, "--reason", "r",
                    "--secret-file", str(f))  # fmt: skip


# -- 1. the wrong-secret rate limit under the anchor lives in the database the trader owns ----


def test_rate_limit_under_anchor_survives_the_trader_deleting_failure_rows(tmp_path: Path) -> None:
    settings_file = _anchored(tmp_path)
    settings = config.load(settings_file)
    store = bootstrap.open_store(settings)
    clock = [T0]
    waits: list[float] = []
    auth = AdminAuth(store, lambda: clock[0], delay=1.0, pause=waits.append,
                     anchor=settings.admin.secret_anchor)  # fmt: skip
    for _ in range(5):  # five guesses, one second apart
        with contextlib.suppress(AuthError):
            auth.check("guess-guess-guess", "trader")
        clock[0] += timedelta(seconds=1)
    assert waits and waits[-1] > 0, waits  # the limiter is on: the 5th guess waited
    waits.clear()
    with contextlib.suppress(AuthError):
        auth.check("guess-guess-guess", "trader")
    with_rows = waits[-1]
    clock[0] += timedelta(seconds=1)
    # the trader, owner of the database file, empties the table (service still running)
    db = sqlite3.connect(settings.database)
    db.execute("DELETE FROM auth_failure")
    db.commit()
    db.close()
    waits.clear()
    with contextlib.suppress(AuthError):
        auth.check("guess-guess-guess", "trader")
    store.close()
    assert waits and waits[-1] >= with_rows, (
        f"the anchored secret's rate limit was reset by a DELETE on the trader's database: "
        f"waits {waits} (was {with_rows}s)"
    )


# -- 2. the database keeps a hash of the anchored secret, readable by the trader -------------


def test_anchoring_leaves_no_offline_guessable_hash_of_the_secret_in_the_database(
    tmp_path: Path,
) -> None:
    """README: set the secret when you install; later anchor it (same secret). The
    database's admin row (the trader owns the file) still verifies the admin's secret: an
    offline, unthrottled guess target, and set-secret is now refused so it cannot be changed."""
    (tmp_path / "settings.ini").write_text(SETTINGS)
    (tmp_path / "admin.secret").write_text(ADMIN_SECRET)
    code, out = _cli(tmp_path / "settings.ini", "admin", "set-secret", "--secret-file",
                     str(tmp_path / "admin.secret"))  # fmt: skip
    assert code == 0, out
    settings_file = _anchored(tmp_path)
    _stored_account(settings_file)
    code, out = _force(settings_file, ADMIN_SECRET, "LockedDaily")  # the service's own use
    assert code == 0, out
    db = sqlite3.connect(tmp_path / "state.db")
    row = db.execute("SELECT salt, hash, params FROM admin").fetchone()
    db.close()
    cracked = None
    if row is not None:
        salt, digest, params = row
        p = json.loads(params)
        for guess in ("password1234", "letmein-letmein", ADMIN_SECRET):  # a dictionary
            got = hashlib.scrypt(
                guess.encode(),
                salt=bytes.fromhex(salt),
                n=p["n"],
                r=p["r"],
                p=p["p"],
                dklen=len(digest) // 2,
                maxmem=128 * 1024 * 1024,
            )
            if got.hex() == digest:
                cracked = guess
    assert cracked is None, "the anchored secret's hash is still in the trader's database"


# -- 3. the offline path with the trader's own settings file (no anchor), same database ------


def test_a_settings_file_without_the_anchor_ends_the_lock_offline(tmp_path: Path) -> None:
    """The admin anchored the secret and, as told, never set one in the database (set-secret is
    refused under the anchor). The service is stopped. The trader writes his own settings
    naming the same database: the first secret is his, and it ends the lock."""
    settings_file = _anchored(tmp_path)
    _stored_account(settings_file)
    code, out = _force(settings_file, ADMIN_SECRET, "LockedDaily")
    assert code == 0 and "LockedDaily" in out, out

    mine = tmp_path / "trader"
    mine.mkdir()
    (mine / "mine.ini").write_text(
        f"[general]\ndatabase = {tmp_path / 'state.db'}\nlog_file = {mine / 'fsm.log'}\n"
    )
    (mine / "t.secret").write_text(TRADER_SECRET)
    code, out = _cli(mine / "mine.ini", "admin", "set-secret", "--secret-file",
                     str(mine / "t.secret"))  # fmt: skip
    assert code != 0, f"the trader set a secret on an anchored database: {out}"
    code2, out2 = _force(mine / "mine.ini", TRADER_SECRET, "Trading", minutes=20)
    assert code2 != 0, f"the trader's own settings ended the anchored lock: {out2}"
    assert "anchored in the settings of its service" in out2, out2
    with freeze_time(T0 + timedelta(minutes=30)):
        _, out3 = _cli(settings_file, "status")
    assert "LockedDaily" in out3, out3


# -- 4. the take-over on a shared PostgreSQL store (two account groups, one database) ---------


def test_take_over_on_a_shared_postgresql_store(tmp_path: Path) -> None:
    from decimal import Decimal

    from fsm_risk.core.lost import META_PREFIX, UNTRUSTED_KEY, LostState
    from tests.postgres import fresh_database

    with fresh_database() as url:
        (tmp_path / "settings.ini").write_text(
            f"[general]\ndatabase = {url}\naccounts = 1001\nlog_file = fsm.log\n"
            "[admin]\nfailure_delay_seconds = 0\n"
        )
        (tmp_path / "admin.secret").write_text(ADMIN_SECRET)
        settings = bootstrap.load_settings(str(tmp_path / "settings.ini"))
        store, engine = bootstrap.open_store(settings), bootstrap.build_engine(settings)
        engine.handle(account(), T0)
        engine.handle(account(acc=2002), T0)  # the other group's account, same server
        store.commit(engine.take_changes(), [], engine.marks)
        AdminAuth(store, lambda: T0 - timedelta(hours=1), delay=0).set_secret(TRADER_SECRET)
        store.set_meta(UNTRUSTED_KEY, T0.isoformat())
        note = LostState(1001, T0, T0 - timedelta(days=1), T0 + timedelta(days=4), 2,
                         Decimal("-1216.60"), Decimal("-1216.60"), secret_held=True)  # fmt: skip
        store.set_meta(META_PREFIX + "1001", json.dumps(note.to_dict()))
        store.close()
        with freeze_time(T0 + timedelta(hours=1)):
            code, out = _cli(tmp_path / "settings.ini", "admin", "set-secret", "--take-over",
                             "--secret-file", str(tmp_path / "admin.secret"))  # fmt: skip
        assert code == 0, out
        code, hist = _cli(tmp_path / "settings.ini", "history", "--json")
        rows = [json.loads(x) for x in hist.splitlines()]
        with freeze_time(T0 + timedelta(hours=1, minutes=5)):
            code, st = _cli(tmp_path / "settings.ini", "status")
        assert sorted(r["account"] for r in rows if r["trigger"] == "take_over") == [1001, 2002]
        assert "replaced with --take-over" in st and "NOT trusted" not in st, st


# -- the way back: `admin anchor --remove` ---------------------------------------------------


def test_the_anchor_is_removed_only_with_its_secret_and_the_database_unmarked(
    tmp_path: Path,
) -> None:
    settings_file = _anchored(tmp_path)
    _stored_account(settings_file)
    assert _force(settings_file, ADMIN_SECRET, "LockedDaily")[0] == 0  # marks the database
    (tmp_path / "wrong.secret").write_text(TRADER_SECRET)
    code, out = _cli(settings_file, "admin", "anchor", "--remove", "--secret-file",
                     str(tmp_path / "wrong.secret"))  # fmt: skip
    assert code != 0 and "wrong admin secret" in out, out
    assert config.load(settings_file).admin.secret_anchor is not None  # still anchored
    code, out = _cli(settings_file, "admin", "anchor", "--remove", "--secret-file",
                     str(tmp_path / "admin.secret"))  # fmt: skip
    assert code == 0 and "anchor removed" in out, out
    assert config.load(settings_file).admin.secret_anchor is None
    # the database's own secret again: set (a first one), then it is the admin's
    (tmp_path / "new.secret").write_text("the-admins-new-secret-456")
    code, out = _cli(settings_file, "admin", "set-secret", "--secret-file",
                     str(tmp_path / "new.secret"))  # fmt: skip
    assert code == 0, out
    code, out = _force(settings_file, "the-admins-new-secret-456", "Trading", minutes=20)
    assert code == 0 and "Trading" in out, out
    code, out = _cli(settings_file, "admin", "anchor", "--remove", "--secret-file",
                     str(tmp_path / "admin.secret"))  # fmt: skip
    assert code != 0 and "nothing to remove" in out, out
