"""Found by a hunt (the database under a real machine): a real full disk under the SQLite database
(a 2 MB tmpfs, filled with a file until ENOSPC), not a stand-in. A clean stop removes the
database's -wal and -shm files and SQLite cannot make -shm again with no space: `serve` was
refused at the restart ("disk I/O error") and a stored lock went unenforced (a locked account's
new position kept). Now it opens the file read-only, enforces the stored lock from it, and says
STATE_NOT_SAVED until there is room. The tmpfs is mounted by the test (as root, as the CI runs;
elsewhere FSM_HDB_MNT may name one)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from fsm_risk.core.states import State
from tests.e2e import service_harness
from tests.e2e.service_harness import MNQ, Harness

DAILY_LOSS = "[rule.daily_loss_limit]\nlimit = 500\n"


@pytest.fixture
def mnt(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    where, mounted = os.environ.get("FSM_HDB_MNT"), False
    if not where:
        where = str(tmp_path / "full")
        os.mkdir(where)
        made = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", where],
            capture_output=True,
            text=True,
            check=False,
        )
        if made.returncode != 0:  # (no root, or no right to mount here: name one)
            pytest.skip(f"no 2 MB tmpfs to fill (mount: {made.stderr.strip()}); set FSM_HDB_MNT")
        mounted = True
    root = Path(where)
    for p in root.iterdir():
        p.unlink() if p.is_file() else shutil.rmtree(p)
    base = service_harness.BASE.replace("database = var/state.db", f"database = {root}/state.db")
    monkeypatch.setattr(service_harness, "BASE", base)
    yield root
    for p in root.iterdir():
        p.unlink() if p.is_file() else shutil.rmtree(p)
    if mounted:
        subprocess.run(["umount", "-l", where], check=False)  # (lazy: the service may hold it)


def fill(root: Path) -> Path:
    filler = root / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (65536, 4096, 512, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                pass
    finally:
        os.close(fd)
    return filler


async def test_a_restart_on_a_full_disk_enforces_the_stored_lock(h: Harness, mnt: Path) -> None:
    await h.start(DAILY_LOSS)
    h.trade("MNQ", "buy", 2)
    await h.until(lambda: MNQ in h.acct.positions, "the position reached the service")
    h.gateway.move_price("MNQ", -600)
    await h.until(lambda: h.acct.state is State.LockedDaily, "locked by RULE-003 (saved)")
    await h.stop()
    filler = fill(mnt)
    await h.start()  # (it was refused: a locked trader's entry went unguarded)
    assert h.acct.state is State.LockedDaily
    h.trade("MNQ", "buy", 1)
    await h.gw_until(lambda: h.position("MNQ") == 0, "the locked account's entry closed")
    filler.unlink()  # room again: what the start and the close held is written
    await h.until(lambda: h.svc.store.pending is None, "saved once there is room", timeout=15)
    assert h.svc.store.read_only is None
    await h.stop()
    await h.start()
    assert h.acct.state is State.LockedDaily


async def test_the_disk_filling_under_the_service_leaves_the_breach_closed(
    h: Harness, mnt: Path
) -> None:
    await h.start(DAILY_LOSS)
    h.trade("MNQ", "buy", 2)
    await h.until(lambda: MNQ in h.acct.positions, "the position reached the service")
    filler = fill(mnt)
    h.gateway.move_price("MNQ", -600)
    await h.gw_until(lambda: h.position("MNQ") == 0, "the breach closed", timeout=15)
    await h.until(lambda: h.acct.state is State.LockedDaily, "locked")
    filler.unlink()
    await h.until(lambda: h.svc.store.pending is None, "saved once there is room", timeout=15)
