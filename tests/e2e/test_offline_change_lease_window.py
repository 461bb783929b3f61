"""Found by a review: on PostgreSQL `runtime.change_offline` checks the leases (`refuse_held`, then
`bootstrap.offline_accounts` inside the change) but holds nothing from that check to the
commit. A service that leases and restores the account in between (systemd bringing it
back) enforces the state from before the change, while the command answers it done and
audited. The window (the offline engine's restore, the change and the commit) is widened here
to a deterministic interleaving: the real `serve` is started from inside the command's commit,
and the commit goes on once that service enforces. Must: the admin's LockedWeekly in force in
the running service (or the command refused, nothing written)."""

from __future__ import annotations

import asyncio
import signal
import threading
from pathlib import Path
from typing import Any

import pytest

from fsm_risk import bootstrap, runtime
from fsm_risk.core.states import State
from fsm_risk.paper import PaperGateway
from tests.e2e.test_offline_change_while_starting import ACCOUNT, query, settings_text
from tests.e2e.test_serve_process import cli, procs, read_until, start

__all__ = ["procs"]


@pytest.fixture
def database() -> Any:
    from tests.postgres import fresh_database

    with fresh_database() as url:
        yield url


async def test_a_service_leasing_between_the_check_and_the_commit_loses_the_change(
    tmp_path: Path, paper_gateway: PaperGateway, procs: list[Any], database: str, monkeypatch: Any
) -> None:
    from fsm_risk import cli as cli_module

    gw, home = paper_gateway, tmp_path
    (home / "var").mkdir(exist_ok=True)
    (home / "settings.ini").write_text(settings_text(gw, database))
    user, key = gw.credentials()
    env = {"PROJECT_X_USERNAME": user, "PROJECT_X_API_KEY": key}
    first = await start(home, env)  # the account is stored, then the service goes down
    procs.append(first)
    await read_until(first, "fsm-risk is enforcing")
    first.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(first.wait(), 30) == 0

    in_commit, go_on = threading.Event(), threading.Event()
    real_commit = bootstrap.commit_offline

    def commit_later(*args: Any, **kwargs: Any) -> None:
        in_commit.set()  # the change is made in memory, the leases were read: none held
        assert go_on.wait(60)
        real_commit(*args, **kwargs)

    monkeypatch.setattr(bootstrap, "commit_offline", commit_later)
    settings = bootstrap.load_settings(str(home / "settings.ini"))
    store = bootstrap.open_store(settings)

    def admin() -> str | None:  # what `fsm-risk transition` runs after the secret's check
        try:
            return runtime.change_offline(
                store, settings, str(ACCOUNT),
                lambda: cli_module._transition_offline(
                    settings, store, str(ACCOUNT), None, State.LockedWeekly,
                    "blew the account, locked by the desk", None, "admin", True,
                ),
            )  # fmt: skip
        finally:
            store.close()

    answer = asyncio.ensure_future(asyncio.to_thread(admin))
    assert await asyncio.to_thread(in_commit.wait, 30)
    second = await start(home, env)  # systemd brings the service back meanwhile
    procs.append(second)
    try:
        await read_until(second, "fsm-risk is enforcing")
        refused = ""
    except AssertionError as exc:  # it ended: refused while the change holds the account
        refused = str(exc)
    go_on.set()
    text = await answer
    if refused:  # systemd (Restart=always) starts it again
        second = await start(home, env)
        procs.append(second)
        await read_until(second, "fsm-risk is enforcing")
    status = await cli(home, "status")
    mnq = gw.contract("MNQ").id
    gw.place_order(ACCOUNT, "MNQ", 0, 3)  # the trader trades on
    closed = True
    try:
        await gw.wait_for(lambda: gw.position(ACCOUNT, mnq) is None, 10, "closed")
    except Exception:
        closed = False
    row = query(database, f"SELECT state FROM account WHERE account_id = {ACCOUNT}")
    second.send_signal(signal.SIGTERM)
    await asyncio.wait_for(second.wait(), 30)
    assert (
        text is None
        or "LockedWeekly" not in text
        or ("LockedWeekly" in status and closed and row == [("LockedWeekly",)])
    ), f"answered done ({text!r}) but the service enforces without it"
