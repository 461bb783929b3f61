"""One hostile record must never stop the service or blind it (the real SDK against the paper
gateway; the records travel over the real user and market hubs)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from fsm_risk.adapters.broker import reader_alive
from fsm_risk.core.states import State
from fsm_risk.errors import FsmRiskError
from fsm_risk.paper import PaperGateway
from fsm_risk.paper.hub import invocation
from tests.e2e.service_harness import ACCOUNT, Harness

DAILY_LOSS = "[rule.daily_loss_limit]\nlimit = 500\n"
MNQ = "CON.F.US.MNQ.Z26"


def push_raw(gw: PaperGateway, hub: str, text: str) -> int:
    """Send ``text`` as it is to every open connection of ``hub``."""
    sent = 0
    for conn in list(gw._conns[hub]):
        if not conn.closed:
            conn.send(text)
            sent += 1
    return sent


def trade_record(**kw: Any) -> dict[str, Any]:
    return {
        "id": 5_000_001,
        "accountId": ACCOUNT,
        "contractId": MNQ,
        "creationTimestamp": "2026-11-23T15:00:00Z",
        "price": 21000,
        "profitAndLoss": None,
        "fees": 0.5,
        "side": 0,
        "size": 1,
        "voided": False,
        "orderId": 77,
        **kw,
    }


@pytest.mark.parametrize("field, value", [("id", 2**63), ("orderId", 2**63), ("size", 1e308)])
async def test_an_out_of_range_number_is_refused_and_the_service_runs_on(
    h: Harness, field: str, value: Any
) -> None:
    await h.start(DAILY_LOSS)
    seen = h.svc.malformed
    assert push_raw(
        h.gateway, "user", invocation("GatewayUserTrade", [trade_record(**{field: value})])
    )
    await h.until(lambda: h.svc.malformed > seen, "refused at the boundary")
    assert any("out of range" in m for m in h.logs)
    assert h.task is not None and not h.task.done()
    h.trade("MNQ", "buy", 2)  # and the service still enforces
    await h.until(lambda: MNQ in h.acct.positions, "the position reached the service")
    h.gateway.move_price("MNQ", -600)
    await h.until(lambda: h.acct.state is State.LockedDaily, "locked by RULE-003")


async def test_a_failing_main_loop_ends_the_service_with_an_error(h: Harness) -> None:
    await h.start(DAILY_LOSS)

    def broken(*args: Any, **kwargs: Any) -> None:
        raise OverflowError("Python int too large to convert to SQLite INTEGER")

    h.svc.store.commit = broken  # type: ignore[method-assign]
    h.trade("MNQ", "buy", 1)
    assert h.task is not None
    with pytest.raises(FsmRiskError, match="the event loop failed: OverflowError"):
        await asyncio.wait_for(h.task, 30)
    h.svc.store.close()
    h.service = h.task = None


MAX_CONTRACTS = "[rule.max_contracts]\nlimit = 3\n"


@pytest.mark.parametrize("record", ["this is not json\x1e", '{"type": 99}\x1e'])
async def test_a_record_that_kills_the_hub_reader_is_seen_and_the_reader_restarted(
    h: Harness, record: str
) -> None:
    await h.start(MAX_CONTRACTS)
    rt = h.svc.broker.hubs
    assert rt is not None
    for n in (1, 2):  # a second one after the restart is survived the same way
        assert push_raw(h.gateway, "user", record)
        await h.until(  # the restarted reader's reconciliation wakes this
            lambda n=n: (
                h.svc.broker.health.readers_restarted >= n and reader_alive(rt.user_connection)
            ),
            "the dead reader seen and started again",
            30,
        )
    assert any("hub reader ended" in m for m in h.logs)
    assert rt.user_connection is not None
    h.trade("MNQ", "buy", 8)  # the feed is live again: the excess is reduced
    await h.gw_until(lambda: h.position("MNQ") == 3, "reduced to the limit", 30)


async def post_transition(h: Harness, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    import aiohttp

    connector = aiohttp.UnixConnector(path=str(h.home / "var" / "ctl.sock"))
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.post("http://fsm-risk/transition", json=body) as resp,
    ):
        return resp.status, await resp.json()


async def test_the_control_channel_refuses_bad_admin_input_cleanly(h: Harness) -> None:
    await h.start(DAILY_LOSS)
    assert h.svc.auth is not None
    h.svc.auth.set_secret("correct horse battery staple")
    base = {"account": str(ACCOUNT), "to": "Trading", "reason": "ops"}
    failures = len(h.svc.store.auth_failures_since(h.clock.now() - timedelta(hours=1)))
    status, body = await post_transition(h, {**base, "admin": "ops", "secret": ["x"]})
    assert status == 400 and "'secret' must be a string" in body["error"]
    after = len(h.svc.store.auth_failures_since(h.clock.now() - timedelta(hours=1)))
    assert after == failures + 1  # counted like a wrong secret
    forged = "ops\n2026-11-23 15:00:00.000 | INFO | admin secret set by root"
    status, body = await post_transition(
        h, {**base, "admin": forged, "secret": "correct horse battery staple"}
    )
    assert status == 400 and "'admin' must be printable text" in body["error"]
    assert not any("set by root" in m for m in h.logs)
    status, body = await post_transition(
        h, {**base, "admin": "ops", "reason": "a\nb", "secret": "correct horse battery staple"}
    )
    assert status == 400 and "one line" in body["error"]
