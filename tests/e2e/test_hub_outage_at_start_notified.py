"""Found by a review of 2cbe6b1: the login's outage at the start is told, the hubs' is not.

The login goes through at once, then the hubs' negotiate answers 503 (a SignalR deploy): the
start waits it out exactly as it waits out a login outage (the same retry, systemd told "NOT
ENFORCING"), nothing is enforced meanwhile, but the notifier is started only after the hubs
open, so the [notify] urls hear nothing for as long as the hubs are down. The real `serve`
process, the real SDK against the paper gateway, apprise's ``json://`` to a loopback
receiver."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from fsm_risk.paper.gateway import PaperGateway
from fsm_risk.paper.settings import PaperSettings
from tests.e2e.receiver import Receiver
from tests.e2e.test_serve_process import procs, settings_text, start

pytestmark = pytest.mark.e2e

__all__ = ["procs"]

OUTAGE = 25.0  # the hubs' negotiate answers 503 this long after a good login
TOLD = "fsm-risk NOT ENFORCING: cannot open the feeds"


async def drain(proc: asyncio.subprocess.Process, lines: list[str]) -> None:
    assert proc.stdout is not None
    while line := await proc.stdout.readline():
        lines.append(line.decode())


async def test_a_hub_outage_at_start_is_told_while_it_lasts(
    tmp_path: Path,
    procs: list[Any],
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The start's notice names the hubs, comes while they answer 503, once, and "fsm-risk
    enforcing" follows once they open; neither carries the key nor the session's token."""
    until = {"t": float("inf")}
    real, issue = PaperGateway._negotiate, PaperGateway._issue_token
    tokens: list[str] = []

    async def negotiate(self: PaperGateway, request: web.Request) -> web.Response:
        if time.monotonic() < until["t"]:
            return web.Response(status=503, text="Service Unavailable")
        return await real(self, request)

    def issued(self: PaperGateway, user: str) -> str:
        tokens.append(issue(self, user))
        return tokens[-1]

    monkeypatch.setattr(PaperGateway, "_negotiate", negotiate)
    monkeypatch.setattr(PaperGateway, "_issue_token", issued)
    gw = PaperGateway(PaperSettings())
    await gw.start(host="127.0.0.1", port=0)
    reading = None
    try:
        text = settings_text(tmp_path, gw) + f"[notify]\nurls = {receiver.url('all')}\n"
        (tmp_path / "settings.ini").write_text(text)
        user, key = gw.credentials()
        until["t"] = ends = time.monotonic() + OUTAGE
        proc = await start(tmp_path, {"PROJECT_X_USERNAME": user, "PROJECT_X_API_KEY": key})
        procs.append(proc)
        lines: list[str] = []
        reading = asyncio.ensure_future(drain(proc, lines))
        with contextlib.suppress(TimeoutError):  # told while the hubs still answer 503
            await receiver.wait_for(
                lambda: receiver.titled("NOT ENFORCING"), "not enforcing", ends - time.monotonic()
            )
        during = [m["title"] for m in receiver.delivered()]
        assert time.monotonic() < ends, f"not told in {OUTAGE:.0f} s of the hubs refused"
        assert during == [TOLD], (
            f"nothing told in {OUTAGE:.0f} s of the hubs refused after a good login, "
            f"nothing enforced meanwhile: {during}"
        )
        await asyncio.sleep(max(0.0, ends - time.monotonic()))
        retried = [ln for ln in lines if "the hubs' opening of" in ln and "failed" in ln]
        assert retried, "the hubs were not refused after the login: " + "".join(lines)[-2000:]
        await receiver.wait_for(lambda: receiver.titled("fsm-risk enforcing"), "enforcing", 90)
        await asyncio.sleep(1.5)  # (a second start notice would come with the first)
        titles = [m["title"] for m in receiver.delivered()]
        assert titles == [TOLD, "fsm-risk enforcing"], titles
        said = " ".join(m["title"] + " " + m["message"] for m in receiver.delivered())
        assert "cannot open the gateway's feeds" in said, said
        assert tokens and key not in said and not any(t in said for t in tokens), said
    finally:
        if reading is not None:
            reading.cancel()
        await gw.stop()
