"""One `fsm-risk serve` per gateway account on a machine, as real processes: a second service
given its own database for the same account is refused, naming the account and the service
holding it, so one breach is never reduced twice; a service killed with SIGKILL holds
nothing; services for different accounts of one gateway run side by side."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from fsm_risk.paper import PaperAccount, PaperGateway
from tests.e2e.test_serve_process import procs, read_until, settings_text, start

__all__ = ["procs"]  # the fixture, shared with the other process tests

ACCOUNT = 1001


def home(root: Path, name: str, gateway: PaperGateway, accounts: str = "") -> Path:
    """A service's own folder: its settings, database, log and control socket, the limit of 3
    contracts, watching ``accounts`` (all the gateway lists when empty)."""
    where = root / name
    where.mkdir()
    text = settings_text(where, gateway) + "[rule.max_contracts]\nlimit = 3\n"
    if accounts:
        text = text.replace("[general]\n", f"[general]\naccounts = {accounts}\n", 1)
    (where / "settings.ini").write_text(text)
    return where


def env(root: Path, gateway: PaperGateway, *, login_shell: bool = False) -> dict[str, str]:
    """The gateway's credentials (its port is the test's own: so are the account locks), and
    ``XDG_RUNTIME_DIR`` as a login shell sets it or as cron leaves it out."""
    user, key = gateway.credentials()
    extra = {"XDG_RUNTIME_DIR": str(root / "run")} if login_shell else {}
    (root / "run").mkdir(mode=0o700, exist_ok=True)
    return {"PROJECT_X_USERNAME": user, "PROJECT_X_API_KEY": key, **extra}


async def ended(proc: asyncio.subprocess.Process, timeout: float = 60) -> tuple[int, str]:
    """What a service said until it ended, and its exit code (a service that enforces instead
    fails the test by the timeout)."""
    assert proc.stdout is not None
    out = (await asyncio.wait_for(proc.stdout.read(), timeout)).decode()
    return await asyncio.wait_for(proc.wait(), 10), out


async def test_a_second_database_for_the_same_account_is_refused_and_one_breach_is_reduced_once(
    tmp_path: Path, paper_gateway: PaperGateway, procs: list[Any]
) -> None:
    gw = paper_gateway
    first = await start(home(tmp_path, "a", gw), env(tmp_path, gw, login_shell=True))
    procs.append(first)
    await read_until(first, "fsm-risk is enforcing")

    # its own database, and started as cron would, the first from a login shell
    second = await start(home(tmp_path, "b", gw), env(tmp_path, gw, login_shell=False))
    procs.append(second)
    code, out = await ended(second)
    assert code == 2, out
    assert "fsm-risk is enforcing" not in out
    assert "another fsm-risk service on this machine monitors account 1001" in out
    assert f"pid {first.pid}" in out and str(tmp_path / "a" / "var" / "state.db") in out

    # one service enforces: 5 against a limit of 3 is reduced by 2 once, never twice
    gw.place_order(ACCOUNT, "MNQ", 0, 5)
    mnq = gw.contract("MNQ").id

    def size() -> int:
        held = gw.position(ACCOUNT, mnq)
        return 0 if held is None else held.size

    await gw.wait_for(lambda: size() == 3, 30, "reduced to the limit")
    await asyncio.sleep(1.0)  # a second service's close would be on its way by now
    assert size() == 3


async def test_a_killed_service_holds_no_account(
    tmp_path: Path, paper_gateway: PaperGateway, procs: list[Any]
) -> None:
    gw = paper_gateway
    first = await start(home(tmp_path, "a", gw), env(tmp_path, gw))
    procs.append(first)
    await read_until(first, "fsm-risk is enforcing")
    first.kill()  # SIGKILL: no shutdown code runs, the kernel drops the lock
    await first.wait()

    second = await start(home(tmp_path, "b", gw), env(tmp_path, gw))
    procs.append(second)
    await read_until(second, "fsm-risk is enforcing")


@pytest.mark.paper(
    accounts=(
        PaperAccount(1001, "PAPER-1", Decimal("50000.00"), True),
        PaperAccount(1002, "PAPER-2", Decimal("50000.00"), True),
    )
)
async def test_services_for_different_accounts_of_one_gateway_run_side_by_side(
    tmp_path: Path, paper_gateway: PaperGateway, procs: list[Any]
) -> None:
    gw = paper_gateway
    first = await start(home(tmp_path, "a", gw, "1001"), env(tmp_path, gw))
    procs.append(first)
    await read_until(first, "fsm-risk is enforcing")
    second = await start(home(tmp_path, "b", gw, "1002"), env(tmp_path, gw))
    procs.append(second)
    await read_until(second, "fsm-risk is enforcing")

    third = await start(home(tmp_path, "c", gw), env(tmp_path, gw))  # every account: 1001 too
    procs.append(third)
    code, out = await ended(third)
    assert code == 2 and "monitors account 1001" in out, out
