"""The SDK writes its own log lines (JSON, on stdout: under systemd, the journal) through
handlers of its own, which the service's masking never saw. A gateway, or the proxy in front of
it, that answers the login with an error page echoing the request (``{"userName": ...,
"apiKey": ...}``) had the SDK print the API key in clear, once per login attempt (found by a
hunt at secrets: 5 lines with the key on stdout, none in the log file)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from fsm_risk.paper import rest
from fsm_risk.paper.gateway import PaperGateway
from fsm_risk.paper.settings import PaperSettings

pytestmark = pytest.mark.e2e

KEY = "RightKey-SECRET-0123456789abcdef"


@pytest.mark.parametrize("status", [500, 400])
async def test_a_login_error_page_echoing_the_request_never_prints_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, status: int
) -> None:
    def echoing_login(self: Any, body: dict[str, Any], caller: Any) -> dict[str, Any]:
        error = web.HTTPInternalServerError if status == 500 else web.HTTPBadRequest
        raise error(text=f"error processing request {json.dumps(body)}")

    monkeypatch.setattr(rest.ProjectXApi, "login_key", echoing_login)
    gw = PaperGateway(dataclasses.replace(PaperSettings(), api_key=KEY))
    await gw.start(host="127.0.0.1", port=0)
    try:
        (tmp_path / "settings.ini").write_text(
            "[general]\ndatabase = var/state.db\nlog_file = var/fsm.log\n"
            "[control]\nsocket = var/ctl.sock\n[rule.daily_loss_limit]\nlimit = 500\n"
            f"[broker]\napi_url = {gw.api_url}\nuser_hub_url = {gw.user_hub_url}\n"
            f"market_hub_url = {gw.market_hub_url}\n"
        )
        env = {"PROJECT_X_USERNAME": "paper", "PROJECT_X_API_KEY": KEY, "NO_COLOR": "1"}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "fsm_risk", "serve",
            "--settings", str(tmp_path / "settings.ini"),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env={**os.environ, **env},
        )  # fmt: skip
        assert proc.stdout is not None and proc.stderr is not None
        reads = [asyncio.ensure_future(s.read()) for s in (proc.stdout, proc.stderr)]
        ended = asyncio.ensure_future(proc.wait())
        try:  # a refusal (the 400) ends serve at once
            await asyncio.wait_for(asyncio.shield(ended), 20)
        except TimeoutError:  # a server error is waited out: stopped after several tries
            proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(ended, 30)
        out, err = await asyncio.gather(*reads)
    finally:
        await gw.stop()
    stdout, stderr = out.decode(), err.decode()
    log = (tmp_path / "var" / "fsm.log").read_text()
    assert "apiKey" in stdout + stderr  # the echoed request did reach the output
    for where, text in (("stdout", stdout), ("stderr", stderr), ("log file", log)):
        leaked = [line for line in text.splitlines() if KEY in line]
        assert not leaked, f"the API key on {where}:\n" + "\n".join(leaked[:2])
