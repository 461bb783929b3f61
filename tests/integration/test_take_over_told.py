"""`admin set-secret --take-over` on a database whose state was lost (`core.lost`) is an admin
action like any other: it is in the audit log of every account the database holds (`history`),
sent to the notification URLs taking admin events, and `status` says the secret was taken over,
by whom and when, instead of "NOT trusted" (a review found none of the three)."""

from __future__ import annotations

import getpass
import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from freezegun import freeze_time

from fsm_risk import bootstrap
from fsm_risk.adapters.auth import AdminAuth
from fsm_risk.cli import main
from fsm_risk.core.lost import META_PREFIX, UNTRUSTED_KEY, LostState
from tests.factories import T0, account

TRADER_SECRET = "the-traders-secret-123"
ADMIN_SECRET = "the-admins-secret-456789"
TAKEN = T0 + timedelta(hours=1)  # the take-over, an hour after the service found the state lost


class _Receiver(ThreadingHTTPServer):
    """What apprise's ``json://`` URLs post on loopback."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        received = self.posts

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                size = int(self.headers.get("Content-Length", 0))
                received.append(json.loads(self.rfile.read(size)))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)


@pytest.fixture
def receiver() -> Iterator[_Receiver]:
    server = _Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _home(tmp_path: Path, port: int, *, held: bool) -> Path:
    """A database replaced by the trader: account 1001 stored, a STATE_LOST note written at T0;
    ``held``: the trader's secret was set on it before the service opened it (not trusted)."""
    (tmp_path / "settings.ini").write_text(
        "[general]\ndatabase = state.db\nlog_file = fsm.log\n[admin]\nfailure_delay_seconds = 0\n"
        f"[notify]\nurls = json://127.0.0.1:{port}/admin\nevents = admin\nretries = 0\n"
    )
    (tmp_path / "admin.secret").write_text(ADMIN_SECRET)
    settings = bootstrap.load_settings(str(tmp_path / "settings.ini"))
    store, engine = bootstrap.open_store(settings), bootstrap.build_engine(settings)
    engine.handle(account(), T0)
    store.commit(engine.take_changes(), [], engine.marks)
    if held:
        AdminAuth(store, lambda: T0 - timedelta(hours=1), delay=0).set_secret(TRADER_SECRET)
        store.set_meta(UNTRUSTED_KEY, T0.isoformat())
    note = LostState(
        1001, T0, T0 - timedelta(days=1), T0 + timedelta(days=4), 2,
        Decimal("-1216.60"), Decimal("-1216.60"), secret_held=held,
    )  # fmt: skip
    store.set_meta(META_PREFIX + "1001", json.dumps(note.to_dict()))
    store.close()
    return tmp_path


def _cli(home: Path, *args: str) -> tuple[int, str]:
    r = CliRunner().invoke(main, [*args, "--settings", str(home / "settings.ini")])
    return r.exit_code, r.output


def _take_over(home: Path) -> tuple[int, str]:
    with freeze_time(TAKEN):
        return _cli(
            home, "admin", "set-secret", "--take-over", "--secret-file", str(home / "admin.secret")
        )


@pytest.fixture
def taken(tmp_path: Path, receiver: _Receiver) -> tuple[Path, str]:
    """The trader's secret held on the replaced database, not trusted (status says so), then
    the admin's take-over; what it printed."""
    home = _home(tmp_path, receiver.server_address[1], held=True)
    with freeze_time(TAKEN - timedelta(minutes=5)):
        code, out = _cli(home, "status")
    assert code == 0 and "NOT trusted" in out, out
    code, out = _take_over(home)
    assert code == 0 and "admin secret stored" in out, out
    return home, out


def test_a_take_over_is_in_the_audit_log(taken: tuple[Path, str]) -> None:
    home, out = taken
    code, text = _cli(home, "history", "--json")
    rows = [json.loads(line) for line in text.splitlines()]
    took = [r for r in rows if r["trigger"] == "take_over"]
    assert code == 0 and len(took) == 1, f"no take-over in the audit log: {rows}"
    [row] = took
    assert row["account"] == 1001 and row["actor"] == getpass.getuser(), row
    assert row["from"] == row["to"] == "Trading" and row["at"] == TAKEN.isoformat(), row
    assert "replaced with --take-over" in row["reason"], row
    assert "not trusted" in row["reason"] and "no stored state" in row["reason"], row
    code, text = _cli(home, "history", "1001")
    assert code == 0 and "take_over" in text and "replaced with --take-over" in text, text
    assert "take-over recorded in the audit log of 1 account(s); notified 1 URL(s)" in out, out


def test_a_take_over_is_notified(taken: tuple[Path, str], receiver: _Receiver) -> None:
    assert len(receiver.posts) == 1, f"the take-over was not notified: {receiver.posts}"
    [post] = receiver.posts
    assert post["title"] == f"fsm-risk: admin secret taken over by {getpass.getuser()}", post
    assert "replaced with --take-over" in post["message"], post
    assert "accounts: 1001" in post["message"] and post["type"] == "warning", post


def test_status_says_the_secret_was_taken_over(taken: tuple[Path, str]) -> None:
    home, _ = taken
    who = getpass.getuser()
    with freeze_time(TAKEN + timedelta(minutes=5)):
        code, out = _cli(home, "status")
        snap = json.loads(_cli(home, "status", "--json")[1])
    assert code == 0 and "CRITICAL: STATE LOST" in out, out
    assert "NOT trusted" not in out, f"status still says the secret is untrusted: {out}"
    assert f"admin secret replaced with --take-over by {who}" in out, out
    took = snap["accounts"][0]["lost_state"].get("secret_taken_over")
    assert took is not None and took["by"] == who and took["replaced"] is True, took


def test_neither_the_secret_nor_its_hash_is_told(
    taken: tuple[Path, str], receiver: _Receiver
) -> None:
    home, out = taken
    store = bootstrap.open_store(bootstrap.load_settings(str(home / "settings.ini")))
    try:
        row = store.admin()
        assert row is not None
        audit = [e.reason + e.actor for e in store.audit()]
    finally:
        store.close()
    told = json.dumps([out, audit, receiver.posts]) + (home / "fsm.log").read_text()
    assert audit and receiver.posts, "nothing audited or sent to look at"
    assert ADMIN_SECRET not in told and row.hash not in told and row.salt not in told


def test_a_first_secret_taken_over_is_audited_and_notified(
    tmp_path: Path, receiver: _Receiver
) -> None:
    home = _home(tmp_path, receiver.server_address[1], held=False)
    code, printed = _take_over(home)
    assert code == 0 and "admin secret stored" in printed, printed
    code, out = _cli(home, "history", "--json")
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == 1, f"no take-over in the audit log: {rows}"
    assert rows[0]["trigger"] == "take_over", rows
    assert "first set with --take-over" in rows[0]["reason"], rows
    assert "take-over recorded in the audit log of 1 account(s)" in printed, printed
    assert [p["title"] for p in receiver.posts] == [
        f"fsm-risk: admin secret taken over by {getpass.getuser()}"
    ]
    with freeze_time(TAKEN + timedelta(minutes=5)):
        code, out = _cli(home, "status")
    assert "may not be the admin's" not in out and "set with --take-over" in out, out


def test_a_plain_first_secret_is_no_take_over(tmp_path: Path, receiver: _Receiver) -> None:
    """A new database (no lost state) takes its first secret as before: nothing audited."""
    (tmp_path / "settings.ini").write_text(
        "[general]\ndatabase = state.db\nlog_file = fsm.log\n"
        f"[notify]\nurls = json://127.0.0.1:{receiver.server_address[1]}/admin\n"
    )
    (tmp_path / "admin.secret").write_text(ADMIN_SECRET)
    code, out = _cli(
        tmp_path, "admin", "set-secret", "--secret-file", str(tmp_path / "admin.secret")
    )
    assert code == 0 and out == "admin secret stored (salted scrypt hash)\n", out
    assert receiver.posts == []
