"""Owner-only files, guessing slowed without a lockout, and admin input that cannot forge a
log line."""

from __future__ import annotations

import json
import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from fsm_risk import logs
from fsm_risk.adapters.auth import MAX_DELAY_SECONDS, AdminAuth, admin_name
from fsm_risk.adapters.store import Store
from fsm_risk.errors import AuthError

RIGHT = "correct horse battery staple"


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_the_database_its_journal_and_its_new_folder_are_owner_only(tmp_path: Path) -> None:
    os.umask(0o022)  # the usual umask: what the service creates must not depend on it
    path = tmp_path / "var" / "state.db"
    store = Store(path)
    store.save_marks({})
    auth = AdminAuth(store, lambda: datetime.now(UTC), delay=0)
    auth.set_secret(RIGHT)
    assert mode(path.parent) == 0o700
    assert mode(path) == 0o600
    for side in path.parent.iterdir():  # -wal, -shm, the service lock
        assert mode(side) & 0o077 == 0, side
    store.close()


def test_an_existing_readable_database_is_tightened(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    Store(path).close()
    os.chmod(path, 0o644)
    Store(path).close()
    assert mode(path) == 0o600


def test_the_log_file_is_owner_only(tmp_path: Path) -> None:
    os.umask(0o022)
    log = tmp_path / "logs" / "fsm.log"
    logs.setup(log, console=False)
    from loguru import logger

    logger.info("hello")
    assert mode(log) == 0o600 and mode(log.parent) == 0o700
    logs.setup(None, console=False)


class Clock:
    def __init__(self) -> None:
        self.t = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.t


@pytest.fixture
def auth(tmp_path: Path) -> tuple[AdminAuth, list[float], Clock]:
    clock = Clock()
    waits: list[float] = []

    def pause(seconds: float) -> None:  # time passes while the check waits
        waits.append(seconds)
        clock.t += timedelta(seconds=seconds)

    a = AdminAuth(Store(tmp_path / "s.db"), clock.now, delay=1.0, max_failures=5, pause=pause)
    a.set_secret(RIGHT)
    return a, waits, clock


def test_wrong_secrets_wait_longer_each_time_and_the_right_one_is_still_accepted(
    auth: tuple[AdminAuth, list[float], Clock],
) -> None:
    a, waits, _ = auth
    for _ in range(8):
        with pytest.raises(AuthError, match="wrong admin secret"):
            a.check("guess-guess-guess", "mallory")
    assert waits == [1, 2, 4, 8, 16, 16, 16, 16]  # doubling, capped
    a.check(RIGHT, "admin")  # no lockout


def test_a_guess_right_after_a_failure_waits_out_the_delay_first(
    auth: tuple[AdminAuth, list[float], Clock],
) -> None:
    a, waits, clock = auth
    for _ in range(3):
        with pytest.raises(AuthError):
            a.check("guess-guess-guess", "mallory")
    clock.t -= timedelta(seconds=4)  # as if the next one came in parallel, before the pause
    waits.clear()
    a.check(RIGHT, "admin")
    assert waits == [4.0]


def test_after_a_restart_the_right_secret_waits_at_most_the_cap(
    tmp_path: Path, auth: tuple[AdminAuth, list[float], Clock]
) -> None:
    a, _, clock = auth
    for _ in range(20):
        with pytest.raises(AuthError):
            a.check("guess-guess-guess", "mallory")
    clock.t -= timedelta(minutes=1)  # the failures are stored; a new process reads them
    waits: list[float] = []
    again = AdminAuth(a.store, clock.now, delay=1.0, max_failures=10, pause=waits.append)
    again.check(RIGHT, "admin")
    assert waits and max(waits) <= MAX_DELAY_SECONDS


@pytest.mark.parametrize(
    "name", ["root\n2026-11-23 INFO forged", "a\rb", "tab\there", "x" * 65, "nul\x00", 42]
)
def test_admin_names_that_could_forge_a_log_line_are_refused(name: object) -> None:
    who, problem = admin_name(name)
    assert problem is not None and who == "unknown"
    assert admin_name("ops-alice")[1] is None


def test_a_non_string_secret_is_counted_as_a_failure(
    auth: tuple[AdminAuth, list[float], Clock],
) -> None:
    a, _, clock = auth
    a.record_failure("mallory")
    assert len(a.store.auth_failures_since(clock.t - timedelta(minutes=1))) == 1
    assert json.dumps(admin_name("ops")) == '["ops", null]'
