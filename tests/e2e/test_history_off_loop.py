"""`fsm-risk history` against a running service never holds up enforcement.

A tester drove `serve` with 40 accounts and 300,000 audit rows: `history --limit 300000` read,
formatted and encoded the log on the service's loop, the one that handles every event and
sends every close, for 9.2 s; 4 of 20 max-contracts breaches were enforced only 6.4-8.6 s
late. The read and its encoding now run a page at a time on a thread, and the answer is sent
as each page is ready: what it says is unchanged.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event

from fsm_risk import runtime, status
from fsm_risk.adapters import control
from fsm_risk.adapters.control import Endpoint
from fsm_risk.core.states import State
from fsm_risk.errors import FsmRiskError
from tests.e2e.service_harness import ACCOUNT, MNQ, Harness, run_cli
from tests.factories import T0

RULES = "[rule.max_contracts]\nlimit = 2\n"


def fill_audit(h: Harness, n: int, accounts: int = 40) -> None:
    """``n`` audit rows written straight into the database, spread over ``accounts`` accounts
    (the running service's own among them)."""
    rows = [
        {
            "at": (T0 - timedelta(days=17) + timedelta(seconds=5 * i)).isoformat(),
            "account_id": ACCOUNT + i % accounts,
            "contract_id": "CON.F.US.MNQ.Z26" if i % 3 else None,
            "from_state": State.Trading.value if i % 2 else State.Flattening.value,
            "to_state": State.Flattening.value if i % 2 else State.Cooldown.value,
            "trigger": "breach" if i % 2 else "flat_confirmed",
            "rule_id": "RULE-001" if i % 2 else None,
            "reason": f'MAX_CONTRACTS: {i % 9 + 3} contracts open, limit 2 \u2014 "quoted"',
            "actor": "system",
        }
        for i in range(n)
    ]
    store = h.svc.store
    with store.engine.begin() as conn:
        conn.exec_driver_sql(store._hot["audit"], rows)


async def history(h: Harness, query: str) -> Any:
    endpoint = await asyncio.to_thread(runtime.control_path, h.settings)
    assert isinstance(endpoint, Endpoint)
    return await asyncio.to_thread(control.request, endpoint, "GET", f"/history?{query}")


def lines(answer: dict[str, Any]) -> list[str]:
    """An answer as `history --json` prints it."""
    return [json.dumps(row) for row in answer["entries"]]


def expected(h: Harness, account: int | None, limit: int) -> dict[str, Any]:
    """What the answer said when it was read whole (`Store.audit`, then `audit_rows`)."""
    entries = h.svc.store.audit(account, limit)
    return {"timezone": h.svc.settings.display_timezone, "entries": status.audit_rows(entries)}


async def test_a_breach_is_closed_while_a_history_read_is_under_way(h: Harness) -> None:
    """The database read held (as a slow disk or a huge log holds it): the trader's breach
    made meanwhile is closed before the read ends."""
    await h.start(RULES)
    fill_audit(h, 2_000)
    begun, release = threading.Event(), threading.Event()
    held: list[bool] = []

    def hold(_conn: Any, _cur: Any, statement: str, *_: Any) -> None:
        if not held and statement.lstrip().startswith("SELECT") and "FROM audit" in statement:
            begun.set()
            # on the service's loop (as it was) this waits out its 10 s: nothing else runs
            held.append(release.wait(10))

    event.listen(h.svc.store.engine, "before_cursor_execute", hold)
    try:
        answer = asyncio.ensure_future(history(h, "limit=1000"))
        assert await asyncio.to_thread(begun.wait, 10), "the history read never began"
        h.trade("MNQ", "buy", 4)  # 2 over the limit
        await h.gw_until(lambda: h.closes("MNQ"), "the service reduced the trader's 4 MNQ")
        await h.gw_until(lambda: h.position("MNQ") == 2, "back to the limit")
        await h.until(lambda: h.contract_state(MNQ) is State.Trading, "the reduce confirmed")
        release.set()
        got = await answer
    finally:
        event.remove(h.svc.store.engine, "before_cursor_execute", hold)
    assert held == [True], "the breach was enforced only once the history read had ended"
    assert got == expected(h, None, 1000)
    assert got["entries"][-1]["trigger"] == "flat_confirmed"  # (read once released)


async def test_a_large_history_answers_as_it_did_and_the_loop_keeps_turning(
    h: Harness,
) -> None:
    await h.start(RULES)
    fill_audit(h, 120_000)
    loop = asyncio.get_running_loop()
    lags: list[float] = []
    done = threading.Event()

    def probe() -> None:
        """How long the loop takes to run a callback handed to it, every 2 ms."""
        while not done.is_set():
            ran = threading.Event()
            sent = time.perf_counter()
            loop.call_soon_threadsafe(ran.set)
            if not ran.wait(30):
                break
            lags.append(time.perf_counter() - sent)
            done.wait(0.002)  # the probe's pace, not a measure

    prober = asyncio.ensure_future(asyncio.to_thread(probe))
    try:  # (the CLI in its own process: its parse of the answer is not the service's work)
        code, everything = await run_cli(h.home, "history", "--json", "--limit", "300000")
        code_one, one = await run_cli(h.home, "history", str(ACCOUNT), "--json", "--limit", "2500")
    finally:
        done.set()
        await prober
    assert code == 0 and code_one == 0, (everything[-300:], one[-300:])
    assert everything.splitlines() == lines(expected(h, None, 300_000))
    assert len(everything.splitlines()) == 120_000
    assert one.splitlines() == lines(expected(h, ACCOUNT, 2_500))
    assert {json.loads(r)["account"] for r in one.splitlines()} == {ACCOUNT}
    worst = max(lags)
    # read on the loop, the first answer held it for seconds (2-5 s on this machine)
    assert worst < 0.25, f"the loop was held {worst * 1000:.0f} ms by a history read"


async def test_history_answers_an_empty_log_and_refuses_bad_requests_in_one_line(
    h: Harness,
) -> None:
    await h.start(RULES)
    got = await history(h, f"account={ACCOUNT}&limit=5")
    assert got == {"timezone": h.svc.settings.display_timezone, "entries": []}
    try:
        await history(h, "limit=lots")
    except FsmRiskError as exc:
        assert str(exc) == "limit must be a whole number"
    else:
        raise AssertionError("a limit that is no number was answered")


async def test_a_read_failing_midway_is_broken_off_never_answered_short(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    await h.start(RULES)
    fill_audit(h, 3_000)
    store = h.svc.store
    real, pages = store.audit_page, []

    def failing(*args: Any) -> Any:
        pages.append(args)
        if len(pages) == 3:
            raise OSError("disk I/O error")
        return real(*args)

    monkeypatch.setattr(store, "audit_page", failing)
    code, out = await run_cli(h.home, "history", "--json", "--limit", "3000")
    assert code != 0 and len(pages) == 3
    socket = h.home / "var" / "ctl.sock"
    said = f"error: the service at {socket} broke off its answer (its log says why)"
    assert out.strip().splitlines() == [said], out
    assert any("GET /history failed while answering" in line for line in h.logs)
    monkeypatch.setattr(store, "audit_page", real)
    code, out = await run_cli(h.home, "history", "--json", "--limit", "3000")
    assert code == 0 and len(out.splitlines()) == 3000  # the service answers the next


async def test_a_stop_during_a_long_history_answer_is_not_held_up_by_it(h: Harness) -> None:
    await h.start(RULES)
    fill_audit(h, 3_000)
    store = h.svc.store
    real, pages, paged, release = store.audit_page, [], threading.Event(), threading.Event()

    def slow(*args: Any) -> Any:
        pages.append(args)
        if len(pages) == 2:  # the second page, the answer begun: a slow disk
            paged.set()
            release.wait(20)
        return real(*args)

    store.audit_page = slow  # type: ignore[method-assign]
    endpoint = await asyncio.to_thread(runtime.control_path, h.settings)
    answer = asyncio.ensure_future(
        asyncio.to_thread(control.request, endpoint, "GET", "/history?limit=3000")
    )
    assert await asyncio.to_thread(paged.wait, 10), "the history read never began"
    began = time.perf_counter()
    try:
        await h.stop()
        stopped = time.perf_counter() - began
    finally:
        release.set()
    with pytest.raises(FsmRiskError, match="broke off its answer"):
        await answer
    assert stopped < 5, f"the stop waited {stopped:.1f} s for a history answer"
