"""One service per gateway account on a machine: the account locks, whatever the database."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from fsm_risk.adapters.account_locks import AccountLocks, gateway_key
from fsm_risk.errors import FsmRiskError

API = "https://api.topstepx.com/api"


def test_one_gateway_however_its_url_is_written_and_without_its_password() -> None:
    assert gateway_key("HTTPS://API.TopstepX.com/api/") == gateway_key(API)
    assert gateway_key("https://user:secret@api.topstepx.com/api") == gateway_key(API)
    assert "secret" not in gateway_key("https://user:secret@api.topstepx.com/api")
    assert gateway_key("http://127.0.0.1:5001/api") != gateway_key("http://127.0.0.1:5002/api")


@pytest.mark.parametrize(
    "spelled",
    [
        "https://api.topstepx.com:443/api",
        "https://api.topstepx.com./api",
        "https://api.topstepx.com//api",
        "https://API.topstepx.com.:443//api//",
    ],
)
def test_a_default_port_a_trailing_dot_or_doubled_slashes_name_the_same_gateway(
    spelled: str,
) -> None:
    assert gateway_key(spelled) == gateway_key(API)


@pytest.mark.parametrize(
    "host",
    [
        "localhost",
        "127.0.0.1",
        "127.0.1.1",
        "[::1]",
        "LOCALHOST.",
        "0.0.0.0",
        "127.1",
        "2130706433",
        "[::ffff:127.0.0.1]",
        "[::]",
    ],
)
def test_this_machine_is_one_gateway_however_it_is_named(host: str) -> None:
    assert gateway_key(f"http://{host}:18600/api") == gateway_key("http://127.0.0.1:18600/api")
    assert gateway_key(f"http://{host}:18600/api") != gateway_key("http://127.0.0.1:18601/api")


def test_a_second_service_naming_this_machine_otherwise_is_refused(tmp_path: Path) -> None:
    first = AccountLocks("http://127.0.0.1:18600/api", "/a.db", tmp_path / "locks")
    first.take([1001])
    second = AccountLocks("http://user:pw@localhost:18600/api", "/b.db", tmp_path / "locks")
    with pytest.raises(FsmRiskError) as refused:
        second.take([1001])
    assert "monitors account 1001 of http://localhost:18600/api (" in str(refused.value)
    first.release()


def test_a_second_holder_of_an_account_is_refused_naming_the_account_and_the_first(
    tmp_path: Path,
) -> None:
    first = AccountLocks(API, "/home/a/state.db", tmp_path / "locks")
    first.take([1001, 1002])
    second = AccountLocks(
        API.upper().replace("/API", "/api"), "/home/b/state.db", tmp_path / "locks"
    )
    with pytest.raises(FsmRiskError) as refused:
        second.take([1003, 1002])
    text = str(refused.value)
    assert "monitors account 1002 of https://api.topstepx.com/api" in text
    assert f"pid {os.getpid()}" in text and "database /home/a/state.db" in text
    assert second.held == []  # all or none: 1003 was let go again
    AccountLocks(API, "/home/c/state.db", tmp_path / "locks").take([1003])  # so it is free

    first.release()
    second.take([1001, 1002])
    assert second.held == [1001, 1002]
    second.release()


def test_accounts_of_another_gateway_are_another_services(tmp_path: Path) -> None:
    a = AccountLocks(API, "a.db", tmp_path)
    b = AccountLocks("https://gateway-api-demo.s2f.projectx.com/api", "b.db", tmp_path)
    a.take([1001])
    b.take([1001])
    assert a.held == b.held == [1001]


def test_the_lock_directory_is_made_private(tmp_path: Path) -> None:
    where = tmp_path / "run" / "fsm-risk"
    AccountLocks(API, "a.db", where).take([7])
    assert (where.stat().st_mode & 0o777) == 0o700


def test_one_directory_for_a_user_whatever_the_environment_says(
    tmp_path: Path, monkeypatch: Any
) -> None:
    """A login shell sets XDG_RUNTIME_DIR, cron and sudo -u do not, TMPDIR differs: two
    services of one user looking in two directories would both lock one account."""
    import tempfile

    from fsm_risk.adapters.account_locks import lock_dir

    for name in ("run-user", "tmp"):
        (tmp_path / name).mkdir()
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run-user"))
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    monkeypatch.setattr(tempfile, "tempdir", None)
    shell = lock_dir()
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    monkeypatch.delenv("TMPDIR")
    assert lock_dir() == shell == Path(f"/tmp/fsm-risk-{os.getuid()}")


def test_where_no_lock_can_be_taken_the_service_still_enforces_and_says_so(
    tmp_path: Path,
) -> None:
    from loguru import logger

    seen: list[str] = []
    sink = logger.add(lambda m: seen.append(str(m)), level="WARNING")
    try:
        (tmp_path / "taken").write_text("a file where the directory would be")
        locks = AccountLocks(API, "a.db", tmp_path / "taken")
        locks.take([1001])  # not refused
    finally:
        logger.remove(sink)
    assert locks.held == []
    assert any("would not be seen" in line for line in seen), seen


def test_a_service_of_the_earlier_naming_still_running_is_seen(tmp_path: Path) -> None:
    """Before the gateway's name was made one however its URL is written, a service locked
    its accounts under the URL as written: one of that version still running beside this one
    is seen (both enforced on one account, reducing a breach twice), and sees this one."""
    from fsm_risk.adapters.account_locks import legacy_key, try_lock

    url = "http://127.0.0.1:18750/api"
    older = AccountLocks(url, "/old.db", tmp_path / "locks")
    (tmp_path / "locks").mkdir(mode=0o700)
    fd = os.open(older.path(1002, legacy_key(url)), os.O_RDWR | os.O_CREAT, 0o600)
    assert try_lock(fd)  # what the earlier version held
    os.write(fd, b'{"pid": 4242, "database": "/old.db", "since": "then"}')
    try:
        with pytest.raises(FsmRiskError, match=r"monitors account 1002 .*pid 4242"):
            AccountLocks(url, "/new.db", tmp_path / "locks").take([1002])
    finally:
        os.close(fd)
    newer = AccountLocks(url, "/new.db", tmp_path / "locks")
    newer.take([1002])
    fd = os.open(older.path(1002, legacy_key(url)), os.O_RDWR)
    try:
        assert not try_lock(fd)  # an earlier version's start is refused in turn
    finally:
        os.close(fd)
    newer.release()
