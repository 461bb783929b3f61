"""Found by a review of 29f6445..e920171 (the login waited out): the first login's sorting of
failures, against the paper gateway with the real SDK (`ProjectXBroker.start`, as `serve` calls
it)."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from fsm_risk.adapters.broker import Credentials, ProjectXBroker, sdk_config
from fsm_risk.errors import FsmRiskError
from fsm_risk.paper import rest as paper_rest
from fsm_risk.paper.gateway import PaperGateway
from tests.e2e.test_serve_process import procs, settings_text, start

pytestmark = pytest.mark.e2e
__all__ = ["procs"]  # (a fixture)

LOGIN = "/api/Auth/loginKey"


def broker_for(gw: PaperGateway, attempts: int | None = None) -> ProjectXBroker:
    user, key = gw.credentials()
    return ProjectXBroker(
        sdk_config(gw.api_url, gw.user_hub_url, gw.market_hub_url),
        Credentials(user, key),
        lambda item: None,
        login_attempts=attempts,
    )


async def test_errorcode_8_unknown_error_once_is_waited_out(
    paper_gateway: PaperGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real gateway's LoginErrorCode 8 is UnknownError (its own trouble, not a refusal).
    Answered twice (the SDK's login, then the service's own look at the refusal), then the
    gateway takes the login: the service must wait it out, as a 5xx."""
    gw = paper_gateway
    sent = {"n": 0}

    def flaky(self: Any, body: dict[str, Any], caller: Any) -> dict[str, Any]:
        sent["n"] += 1
        if sent["n"] <= 2:
            raise paper_rest._LoginRefused(8, "An unknown error occurred")
        return original(self, body, caller)

    original = paper_rest.ProjectXApi.login_key
    monkeypatch.setattr(paper_rest.ProjectXApi, "login_key", flaky)
    # the route table binds the handler at start: start a fresh gateway with the patch on
    gw2 = PaperGateway(gw.settings)
    await gw2.start(host="127.0.0.1", port=0)
    broker = broker_for(gw2)
    try:
        accounts = await asyncio.wait_for(broker.start(), 30)
        assert accounts
    finally:
        await broker.stop()
        await gw2.stop()


@pytest.mark.parametrize("status", [403, 400, 407])
async def test_a_4xx_refusal_at_the_login_is_final_not_retried_forever(
    paper_gateway: PaperGateway, status: int
) -> None:
    """A 403 (what the commit names as a refusal with a hint), a 400 or a proxy's 407 at the
    login, every time: the service should stop at once saying what to fix, as for a 401."""
    gw = paper_gateway
    gw.fail_rest(LOGIN, status, count=1000)
    broker = broker_for(gw)
    try:
        await asyncio.wait_for(broker.start(), 15)
    except FsmRiskError:
        return
    except TimeoutError:
        raise AssertionError(f"HTTP {status} at the login retried as a hiccup") from None
    finally:
        await broker.stop()


async def test_how_a_403_is_said_while_retried(paper_gateway: PaperGateway) -> None:
    gw = paper_gateway
    gw.fail_rest(LOGIN, 403, count=1000)
    broker = broker_for(gw, attempts=2)
    try:
        with pytest.raises(FsmRiskError) as caught:
            await broker.start()
        assert "refused" in str(caught.value), str(caught.value)
    finally:
        await broker.stop()


# --- serve under systemd (Type=notify, TimeoutStartSec=180): what it tells while retrying ---


async def test_serve_tells_systemd_nothing_while_the_login_is_retried(
    tmp_path: Path,
    paper_gateway: PaperGateway,
    procs: list[Any],
) -> None:
    gw = paper_gateway
    (tmp_path / "settings.ini").write_text(settings_text(tmp_path, gw))
    user, key = gw.credentials()
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.setblocking(False)
    gw.fail_rest(LOGIN, 503, count=1000)
    proc = await start(
        tmp_path,
        {
            "PROJECT_X_USERNAME": user,
            "PROJECT_X_API_KEY": key,
            "NOTIFY_SOCKET": str(path),
            "WATCHDOG_USEC": "30000000",
        },
    )
    procs.append(proc)
    await asyncio.sleep(20)
    got = []
    while True:
        try:
            got.append(sock.recv(4096).decode())
        except BlockingIOError:
            break
    sock.close()
    # systemd stops a Type=notify start that sends neither READY=1 nor EXTEND_TIMEOUT_USEC
    # within TimeoutStartSec: the retry 'for as long as it takes' ends at 180 s there
    assert any("EXTEND_TIMEOUT_USEC" in g for g in got), got
    assert any(g.startswith("STATUS=NOT ENFORCING") for g in got), got
    assert not any(key in g for g in got)


async def test_hubs_down_for_75_s_after_the_login_serve_waits_it_out(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    procs: list[Any],
) -> None:
    """The login goes through, the hubs' negotiate answers 503 for 75 s (a SignalR deploy):
    the same gateway trouble as at the login, one step later."""
    from aiohttp import web

    from fsm_risk.paper.settings import PaperSettings

    until = {"t": float("inf")}
    real = PaperGateway._negotiate

    async def negotiate(self: PaperGateway, request: web.Request) -> web.Response:
        if time.monotonic() < until["t"]:
            return web.Response(status=503, text="Service Unavailable")
        return await real(self, request)

    monkeypatch.setattr(PaperGateway, "_negotiate", negotiate)
    gw = PaperGateway(PaperSettings())
    await gw.start(host="127.0.0.1", port=0)
    try:
        (tmp_path / "settings.ini").write_text(settings_text(tmp_path, gw))
        user, key = gw.credentials()
        until["t"] = time.monotonic() + 75
        began = time.monotonic()
        proc = await start(tmp_path, {"PROJECT_X_USERNAME": user, "PROJECT_X_API_KEY": key})
        procs.append(proc)
        assert proc.stdout is not None
        lines: list[str] = []
        code = None
        try:
            async with asyncio.timeout(120):
                while True:
                    line = (await proc.stdout.readline()).decode()
                    if not line:
                        code = await proc.wait()
                        break
                    lines.append(f"{time.monotonic() - began:5.1f} {line.rstrip()[:230]}")
                    if "fsm-risk is enforcing" in line:
                        break
        except TimeoutError:
            pass
        assert code is None, "serve stopped while the hubs were down for 75 s"
    finally:
        await gw.stop()


async def test_a_5xx_body_echoing_the_key_and_a_sigint_while_retrying(
    tmp_path: Path,
    paper_gateway: PaperGateway,
    procs: list[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import signal

    gw = paper_gateway
    (tmp_path / "settings.ini").write_text(settings_text(tmp_path, gw))
    user, key = gw.credentials()
    monkeypatch.setattr(paper_rest, "responses", {503: f'{{"echo": {{"apiKey": "{key}"}}}}'})
    gw.fail_rest(LOGIN, 503, count=1000)
    proc = await start(tmp_path, {"PROJECT_X_USERNAME": user, "PROJECT_X_API_KEY": key})
    procs.append(proc)
    await asyncio.sleep(8)
    proc.send_signal(signal.SIGINT)
    code = await asyncio.wait_for(proc.wait(), 15)
    assert proc.stdout is not None
    out = (await proc.stdout.read()).decode()
    log = (tmp_path / "var" / "fsm.log").read_text()
    said = [ln for ln in out.splitlines() if "failed" in ln or "stopped" in ln]
    assert said, out[-2000:]
    assert key not in out and key not in log
    assert code == 0


async def test_a_sigterm_while_the_hubs_are_retried_is_a_clean_stop(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    procs: list[Any],
) -> None:
    import signal

    from aiohttp import web

    from fsm_risk.paper.settings import PaperSettings

    async def negotiate(self: PaperGateway, request: web.Request) -> web.Response:
        return web.Response(status=503, text="Service Unavailable")

    monkeypatch.setattr(PaperGateway, "_negotiate", negotiate)
    gw = PaperGateway(PaperSettings())
    await gw.start(host="127.0.0.1", port=0)
    try:
        (tmp_path / "settings.ini").write_text(settings_text(tmp_path, gw))
        user, key = gw.credentials()
        proc = await start(tmp_path, {"PROJECT_X_USERNAME": user, "PROJECT_X_API_KEY": key})
        procs.append(proc)
        assert proc.stdout is not None
        async with asyncio.timeout(60):
            while b"the hubs' opening" not in await proc.stdout.readline():
                pass
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), 15)
        assert code == 0
    finally:
        await gw.stop()
