"""The control channel over both transports: the owner-only Unix socket (the default where it
exists) and loopback TCP with the per-install token (Windows' transport). The CLI finds the
running service either way; over TCP a request without the token is refused."""

from __future__ import annotations

import asyncio
import dataclasses
import stat
import sys

import aiohttp
import pytest

from fsm_risk import config, logs, runtime
from fsm_risk.adapters.auth import AdminAuth
from fsm_risk.adapters.control import PORT_KEY, Endpoint
from fsm_risk.core.states import State
from fsm_risk.errors import FsmRiskError
from tests.e2e.service_harness import ACCOUNT, Harness, run_cli

SECRET = "correct horse battery"
RULES = "[rule.daily_loss_limit]\nlimit = 1000\n"


async def start(h: Harness, transport: str) -> None:
    path = h.write_settings(RULES)
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("[control]\n", f"[control]\ntransport = {transport}\n"))
    await h.start()
    AdminAuth(h.svc.store, h.clock.now, delay=0).set_secret(SECRET)


@pytest.mark.parametrize("transport", ["unix", "tcp"])
async def test_status_lock_and_admin_transition_reach_the_service(
    h: Harness, transport: str
) -> None:
    await start(h, transport)
    endpoint = await asyncio.to_thread(runtime.control_path, h.settings)
    assert endpoint is not None
    assert (endpoint.port is not None) is (transport == "tcp")
    code, out = await run_cli(h.home, "status")
    assert code == 0 and "from the running service" in out, out
    code, out = await run_cli(h.home, "lock", "--for", "1h")
    assert code == 0 and "locked by trader:" in out, out
    await h.until(lambda: h.acct.state is State.Cooldown, "the self-lock through the channel")
    code, out = await run_cli(
        h.home, "transition", str(ACCOUNT), "--to", "Trading", "--reason", "ok", secret=SECRET
    )
    assert code == 0, out
    await h.until(lambda: h.acct.state is State.Trading, "the admin's transition")


async def test_tcp_listens_on_loopback_with_an_owner_only_token_and_refuses_without_it(
    h: Harness,
) -> None:
    await start(h, "tcp")
    token_file = h.settings.control_token_file
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    token = token_file.read_text(encoding="utf-8").strip()
    port = int(h.svc.store.meta(PORT_KEY) or 0)
    assert port > 0
    assert not h.settings.control_socket.exists()  # no Unix socket in TCP mode
    async with aiohttp.ClientSession() as session:
        url = f"http://127.0.0.1:{port}/status"
        async with session.get(url) as resp:
            assert resp.status == 401
            assert (await resp.json())["error"] == "the control token is missing or wrong"
        async with session.post(
            f"http://127.0.0.1:{port}/lock",
            json={"for": "1h"},
            headers={"Authorization": "Bearer " + "x" * len(token)},
        ) as resp:
            assert resp.status == 401
        async with session.get(url, headers={"Authorization": f"Bearer {token}"}) as resp:
            assert resp.status == 200
            assert (await resp.json())["accounts"][0]["account_id"] == ACCOUNT
    assert h.acct.state is State.Trading
    # the token is per install: a restart keeps it; stopping withdraws the port
    await h.stop()
    assert runtime.control_path(h.settings) is None
    await h.start()
    assert token_file.read_text(encoding="utf-8").strip() == token


async def test_a_client_that_cannot_read_the_token_gets_one_clear_line(h: Harness) -> None:
    await start(h, "tcp")
    settings = h.settings
    control = dataclasses.replace(settings.control, token_file=settings.resolve("nope"))
    missing = dataclasses.replace(settings, control=control)
    with pytest.raises(FsmRiskError, match=r"cannot read the control token .*nope") as refused:
        await asyncio.to_thread(runtime.control_path, missing)
    # the line the CLI prints (secrets masked) still says why
    assert "(No such file or directory)" in logs.mask(str(refused.value))
    assert isinstance(await asyncio.to_thread(runtime.control_path, settings), Endpoint)


def test_auto_is_unix_where_the_platform_has_it_and_tcp_on_windows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    s = config.parse("", "/tmp/settings.ini")
    monkeypatch.setattr(sys, "platform", "linux")
    assert s.control_transport == "unix"
    monkeypatch.setattr(sys, "platform", "win32")
    assert s.control_transport == "tcp"
    tcp = config.parse("[control]\ntransport = unix\n", "/tmp/settings.ini")
    assert tcp.control_transport == "unix"


async def test_an_unforeseen_failure_answers_in_json_and_the_cli_says_one_line(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    await start(h, "tcp")

    def broken(account_ids: list[int] | None = None) -> dict[str, object]:
        raise RuntimeError("boom")

    monkeypatch.setattr(h.svc, "status", broken)
    code, out = await run_cli(h.home, "status")
    assert code != 0, out
    assert "the service failed on GET /status (RuntimeError); its log has the details" in out
    assert "Traceback" not in out and "without JSON" not in out
