"""`status --watch` against a running service that goes away, and the JSON views for scripts."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time

from fsm_risk.core.states import State
from tests.e2e.service_harness import ACCOUNT, MNQ, Harness, lock_by_daily_loss, run_cli

DAILY_LOSS = "[rule.daily_loss_limit]\nlimit = 500\n"


async def read_until(stream: asyncio.StreamReader, text: str, timeout: float = 30) -> str:
    seen = []
    async with asyncio.timeout(timeout):
        while True:
            line = (await stream.readline()).decode()
            if not line:
                raise AssertionError(f"the watch ended before '{text}':\n{''.join(seen)}")
            seen.append(line)
            if text in line:
                return "".join(seen)


async def test_watch_says_plainly_when_the_service_goes_away(h: Harness) -> None:
    await h.start(DAILY_LOSS)
    watch = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "fsm_risk", "status", "--watch",
        "--settings", str(h.home / "settings.ini"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "NO_COLOR": "1"},
    )  # fmt: skip
    assert watch.stdout is not None
    try:
        await read_until(watch.stdout, "(from the running service)")
        await h.stop()
        gone = time.monotonic()
        await read_until(watch.stdout, "NOT ENFORCING: no fsm-risk service is running.")
        noticed = time.monotonic() - gone
        # refreshed every second: the design bound is 2 s; generous here for a loaded machine
        assert noticed < 6, f"noticed only after {noticed:.1f} s"
    finally:
        watch.kill()
        await watch.wait()


async def test_status_and_history_json_for_scripts(h: Harness) -> None:
    await h.start(DAILY_LOSS)
    await lock_by_daily_loss(h)
    assert h.acct.state is State.LockedDaily
    code, out = await run_cli(h.home, "status", "--json", secret="")
    assert code == 0, out
    snap = json.loads(out)
    assert snap["enforcing"] is True and snap["source"] == "running service"
    [acct] = snap["accounts"]
    assert acct["account_id"] == ACCOUNT and acct["state"] == "LockedDaily"
    assert acct["lock"]["source"] == "RULE-003"
    code, out = await run_cli(h.home, "history", "--json", secret="")
    assert code == 0, out
    rows = [json.loads(line) for line in out.splitlines()]
    assert ("Trading", "Flattening", "RULE-003") in {(r["from"], r["to"], r["rule"]) for r in rows}
    assert any(r["contract"] == MNQ for r in rows)
    await h.stop()
    code, out = await run_cli(h.home, "status", "--json", secret="")
    assert code == 0 and json.loads(out)["enforcing"] is False
