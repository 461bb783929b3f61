"""The gateway in trouble at the login (an HTTP 5xx, a burst of 503s, an outage longer than a
few tries): `serve` waits it out, saying so plainly, and comes up enforcing the stored locks;
it never gives up and leaves the accounts unguarded (it used to stop with "unexpected
ProjectXServerError" once its five tries were spent, some 22 s into an outage). A refusal
(HTTP 401) is final: it stops at once saying what to fix, never echoing the key. A login
failing at a token refresh while running leaves enforcement going on the current token."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from fsm_risk.core.states import State
from fsm_risk.paper import PaperGateway
from tests.e2e.service_harness import MNQ, Harness, lock_by_daily_loss, run_cli
from tests.e2e.test_serve_process import cli, procs, read_until, settings_text, start

__all__ = ["procs"]

LOGIN = "/api/Auth/loginKey"
DAILY_LOSS = "[rule.daily_loss_limit]\nlimit = 500\n"
MAX_CONTRACTS = "[rule.max_contracts]\nlimit = 3\n"
ACCOUNT = 1001


def logged(h: Harness, text: str) -> list[str]:
    return [m for m in h.logs if text in m]


async def eventually(predicate: Any, what: str, timeout: float = 20) -> None:
    """Wait (wall time) for something the service logs, not an event it handles."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not met within {timeout} s: {what}")
        await asyncio.sleep(0.05)


async def test_one_500_at_the_first_login_the_service_comes_up_and_enforces(h: Harness) -> None:
    h.gateway.fail_rest(LOGIN, 500)
    await h.start(DAILY_LOSS)
    assert LOGIN not in h.gateway._rest_faults  # the 500 was answered, and the login retried
    await lock_by_daily_loss(h)  # flattened past the limit and locked: enforcing


async def test_a_503_burst_at_the_login_is_waited_out_and_the_stored_lock_enforced(
    h: Harness,
) -> None:
    await h.start(DAILY_LOSS)
    await lock_by_daily_loss(h)
    await h.stop()
    _, key = h.gateway.credentials()
    # longer than the SDK's own three sends (0, 1, 3 s): the service's backoff must take over
    h.gateway.fail_rest(LOGIN, 503, seconds=3.5)
    began = time.monotonic()
    await h.start()
    assert time.monotonic() - began >= 3.5  # the burst waited out, not gone around
    said = logged(h, "the login of 'paper' failed: the gateway answered with a server error")
    assert said, "the failed login was not said plainly"
    assert "503" in said[0] and "trying again in" in said[0] and "stored locks stay" in said[0]
    assert not any(key in m for m in h.logs)
    assert h.acct.state is State.LockedDaily  # the stored lock holds
    h.trade("MNQ", "buy", 1)  # opened under the lock: closed at once
    await h.gw_until(lambda: h.position("MNQ") == 0 and h.closes("MNQ"), "closed under lock")
    assert h.acct.state is State.LockedDaily


@pytest.mark.paper(token_lifetime=40)
async def test_a_500_at_a_token_refresh_while_running_keeps_enforcing(h: Harness) -> None:
    # a 40 s token renewed 35 s ahead of its expiry: the first renewal 5 s after the login
    await h.start(MAX_CONTRACTS + "[broker]\ntoken_refresh_seconds = 35\n")
    broker = h.svc.broker
    assert broker.client is not None
    first = broker.client.session_token
    # the renewal's login answered 500 five times: the SDK's three sends, then again
    h.gateway.fail_rest(LOGIN, 500, count=5)
    await eventually(lambda: logged(h, "logging in again failed"), "the renewal failed")
    assert h.svc.health()["authenticated"]  # the current token still works: not blind
    h.trade("MNQ", "buy", 5)  # while the renewal fails: the excess reduced all the same
    await h.gw_until(lambda: h.position("MNQ") == 3, "the excess reduced", 15)
    assert [c.size for c in h.closes("MNQ")] == [2]
    await eventually(lambda: broker.client is not None and broker.client.session_token != first,
                     "logged in again once the gateway answered")  # fmt: skip
    assert LOGIN not in h.gateway._rest_faults
    assert h.svc.health()["authenticated"]
    h.trade("MNQ", "buy", 1)  # and on the new token
    await h.gw_until(lambda: h.position("MNQ") == 3, "the new excess reduced")
    assert MNQ in h.acct.positions


async def test_the_control_api_arms_a_login_fault(paper_gateway: PaperGateway) -> None:
    gw = paper_gateway
    user, key = gw.credentials()
    async with aiohttp.ClientSession() as s:
        async with s.post(
            f"{gw.control_url}/faults/rest", json={"path": LOGIN, "status": 500}
        ) as r:
            assert r.status == 200, await r.text()
        body = {"userName": user, "apiKey": key}
        async with s.post(f"{gw.api_url}/Auth/loginKey", json=body) as r:
            assert r.status == 500
        async with s.post(f"{gw.api_url}/Auth/loginKey", json=body) as r:
            assert r.status == 200 and (await r.json())["success"] is True
        bad = {"path": "/Auth/loginKey", "status": 200}
        async with s.post(f"{gw.control_url}/faults/rest", json=bad) as r:
            assert r.status == 400


# --- `fsm-risk serve` as its own process ---------------------------------------------------


async def test_a_login_outage_longer_than_the_old_tries_serve_waits_it_out_and_enforces(
    tmp_path: Path, paper_gateway: PaperGateway, procs: list[Any]
) -> None:
    gw = paper_gateway
    (tmp_path / "settings.ini").write_text(settings_text(tmp_path, gw))
    user, key = gw.credentials()
    # the SDK sends each login three times: 15 answered 503 spent the old start's five tries
    # (some 22 s) and it stopped, "unexpected ProjectXServerError"
    gw.fail_rest(LOGIN, 503, count=15)
    proc = await start(tmp_path, {"PROJECT_X_USERNAME": user, "PROJECT_X_API_KEY": key})
    procs.append(proc)
    head = await read_until(proc, "fsm-risk is enforcing", timeout=90)
    assert f"the login of '{user}' failed: the gateway answered with a server error" in head
    assert "unexpected" not in head and key not in head
    assert LOGIN not in gw._rest_faults  # every 503 was answered before the login went through
    gw.place_order(ACCOUNT, "MNQ", 0, 2)
    await gw.wait_for(lambda: gw.quote_subscribers("MNQ") > 0, 30, "quotes watched")
    gw.move_price("MNQ", -600)  # 2 x -150 points = -$600: past the $500 limit
    await gw.wait_for(lambda: gw.position(ACCOUNT, gw.contract("MNQ").id) is None, 30, "flat")
    assert key not in (tmp_path / "var" / "fsm.log").read_text()


async def test_a_login_answered_401_serve_stops_at_once_saying_what_to_fix(
    tmp_path: Path, paper_gateway: PaperGateway, procs: list[Any]
) -> None:
    gw = paper_gateway
    (tmp_path / "settings.ini").write_text(settings_text(tmp_path, gw))
    user, key = gw.credentials()
    gw.fail_rest(LOGIN, 401, count=1000)  # every login refused with HTTP 401
    proc = await start(tmp_path, {"PROJECT_X_USERNAME": user, "PROJECT_X_API_KEY": key})
    procs.append(proc)
    assert proc.stdout is not None
    out = (await asyncio.wait_for(proc.stdout.read(), 30)).decode()
    assert await proc.wait() != 0
    assert f"error: the gateway refused the login of '{user}' (HTTP 401" in out, out
    assert "check the username and the API key" in out
    assert "failed: " not in out  # not retried as a hiccup
    assert key not in out and key not in (tmp_path / "var" / "fsm.log").read_text()


async def test_while_the_login_is_retried_status_and_transition_say_so_and_a_stop_is_clean(
    tmp_path: Path, paper_gateway: PaperGateway, procs: list[Any]
) -> None:
    gw = paper_gateway
    (tmp_path / "settings.ini").write_text(settings_text(tmp_path, gw))
    user, key = gw.credentials()
    gw.fail_rest(LOGIN, 503, count=1000)
    proc = await start(tmp_path, {"PROJECT_X_USERNAME": user, "PROJECT_X_API_KEY": key})
    procs.append(proc)
    await eventually(lambda: gw._rest_faults[LOGIN][1] <= 996, "a second try of the login", 30)
    # the admin commands talk to the service, never to the gateway: they say it is starting
    shown = await cli(tmp_path, "status")
    assert "NOT ENFORCING: a service holds the database but does not answer yet." in shown
    assert "starting (logging in" in shown
    code, said = await run_cli(tmp_path, "transition", "1001", "--to", "Trading", "--reason", "r")
    assert code != 0 and "does not answer on its control socket" in said, said
    assert "it is starting (logging in to the gateway" in said and "nothing changed" in said
    proc.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(proc.wait(), 10) == 0
    assert proc.stdout is not None
    out = (await proc.stdout.read()).decode()
    assert f"the login of '{user}' failed" in out and "\nerror:" not in out
