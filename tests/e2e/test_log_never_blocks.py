"""A console that stops reading never stops enforcement.

`fsm-risk serve` in a terminal paused with Ctrl-S, or piped into a pager or a log shipper
that stopped reading: its writes to the console block once the pipe is full. Written on the
event loop, every close and cancel then waited for the console (70 s, five breaches of six not
touched). Here the service's stderr is a pipe of one page that nobody reads, and breach after
breach is still reduced at the gateway."""

from __future__ import annotations

import asyncio
import fcntl
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from fsm_risk.paper import PaperGateway
from fsm_risk.paper.engine import Side

ACCOUNT = 1001
F_SETPIPE_SZ = 1031  # (Linux)


@pytest.fixture
async def stalled_stderr() -> AsyncIterator[int]:
    """The write end of a one-page pipe whose read end stays open and is never read."""
    r, w = os.pipe()
    fcntl.fcntl(w, F_SETPIPE_SZ, 4096)
    try:
        yield w
    finally:
        os.close(r)
        os.close(w)


async def test_a_console_nobody_reads_never_holds_a_close_back(
    tmp_path: Path, paper_gateway: PaperGateway, stalled_stderr: int
) -> None:
    gw = paper_gateway
    (tmp_path / "settings.ini").write_text(
        "[general]\ndatabase = var/state.db\nlog_file = var/fsm.log\n"
        "[control]\nsocket = var/ctl.sock\n[web]\nenabled = false\n"
        "[rule.max_contracts_per_instrument]\ndefault_limit = 3\n"
        f"[broker]\napi_url = {gw.api_url}\nuser_hub_url = {gw.user_hub_url}\n"
        f"market_hub_url = {gw.market_hub_url}\n"
    )
    user, key = gw.credentials()
    out = tmp_path / "stdout.txt"
    with out.open("w") as stdout:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "fsm_risk", "serve", "--settings", str(tmp_path / "settings.ini"),
            stdout=stdout, stderr=stalled_stderr, cwd=tmp_path,
            env={**os.environ, "PROJECT_X_USERNAME": user, "PROJECT_X_API_KEY": key},
        )  # fmt: skip
    try:
        await gw.wait_for(lambda: "fsm-risk is enforcing" in out.read_text(), 60, "enforcing")
        mnq = gw.contract("MNQ").id
        for n in range(8):  # each breach logs more than the pipe takes
            gw.place_order(ACCOUNT, "MNQ", Side.BUY, 5)  # 5 more: past the default limit of 3
            await gw.wait_for(
                lambda: (p := gw.position(ACCOUNT, mnq)) is not None and p.size == 3,
                10,
                f"breach {n + 1} reduced to 3 with the console stalled",
            )
    finally:
        proc.kill()
        await proc.wait()
