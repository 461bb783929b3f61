"""The service's web side over HTTP: /metrics (Prometheus), /healthz, /readyz, the dashboard's
data and event stream, the access token, and that nothing there changes state."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from fsm_risk.core.states import State
from fsm_risk.web import WebServer
from tests.e2e.service_harness import ACCOUNT, Harness, web

MNQ = "CON.F.US.MNQ.Z26"
DAILY_LOSS = "[rule.daily_loss_limit]\nlimit = 500\n"


async def get(url: str, **headers: str) -> tuple[int, str, str]:
    async with aiohttp.ClientSession() as s, s.get(url, headers=headers) as r:
        return r.status, r.headers.get("Content-Type", ""), await r.text()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_metrics_follow_a_breach_and_its_enforcement(h: Harness) -> None:
    await h.start(DAILY_LOSS)
    url = web(h).url
    h.trade("MNQ", "buy", 2)
    await h.until(lambda: MNQ in h.acct.positions, "the position reached the service")
    h.gateway.move_price("MNQ", -300)
    await h.until(lambda: h.acct.positions[MNQ].upnl <= -300, "the loss is seen")
    status, ctype, text = await get(f"{url}metrics")
    assert status == 200 and ctype.startswith("text/plain")
    m = samples(text)
    acct = str(ACCOUNT)
    assert m[("fsm_risk_account_state", (("account", acct), ("state", "Trading")))] == 1.0
    usage = m[
        (
            "fsm_risk_rule_usage_ratio",
            (("account", acct), ("name", "daily_loss_limit"), ("rule", "RULE-003")),
        )
    ]
    assert 0.6 < usage < 0.61  # -$301.74 of -$500
    h.gateway.push_malformed(ACCOUNT, "GatewayUserOrder", "wrong_types")
    h.gateway.move_price("MNQ", -300)
    await h.until(lambda: h.acct.state is State.LockedDaily, "locked")
    registry = web(h).metrics.registry
    latency = "fsm_risk_enforcement_latency_seconds_count"
    await h.until(lambda: registry.get_sample_value(latency, {"action": "close"}), "answered")
    m = samples((await get(f"{url}metrics"))[2])
    assert m[("fsm_risk_account_state", (("account", acct), ("state", "LockedDaily")))] == 1.0
    assert m[("fsm_risk_account_state", (("account", acct), ("state", "Trading")))] == 0.0
    assert m[("fsm_risk_closes_sent_total", (("account", acct),))] == 1.0
    assert m[("fsm_risk_closes_confirmed_total", (("account", acct),))] == 1.0
    assert m.get(("fsm_risk_closes_retried_total", (("account", acct),)), 0.0) == 0.0
    assert m[("fsm_risk_enforcement_latency_seconds_count", (("action", "close"),))] == 1.0
    assert m[("fsm_risk_refused_payloads_total", (("kind", "order"),))] == 1.0
    assert m[("fsm_risk_feed_healthy", ())] == 1.0
    assert m[("fsm_risk_user_hub_connected", (("account", acct),))] == 1.0
    assert 0 < m[("fsm_risk_request_budget_left", ())] < 200
    assert m[("fsm_risk_event_queue_depth", ())] >= 0
    assert m[("fsm_risk_notifications_sent_total", ())] == 0.0
    assert m[("fsm_risk_notifications_failed_total", ())] == 0.0
    assert m[("fsm_risk_ready", ())] == 1.0


async def test_healthz_is_the_process_and_readyz_the_service(h: Harness) -> None:
    await h.start(DAILY_LOSS)
    url = web(h).url
    assert await get(f"{url}healthz") == (200, "application/json; charset=utf-8", '{"alive": true}')
    status, _, body = await get(f"{url}readyz")
    assert status == 200
    assert json.loads(body) == {
        "ready": True,
        "connected": True,
        "authenticated": True,
        "feed_complete": True,
        "state_saved": True,
        "reconciled": True,
        "closes_confirmed": True,
        "cancels_confirmed": True,
        "reads_answered": True,
        "named_monitored": True,
        "enforcing": True,
        "accounts": 1,
        "accounts_ready": 1,
        "accounts_state_lost": 0,
        "contracts_priced_by_reads": 0,
    }
    h.svc.stopping.set()  # shutting down: no longer enforcing
    status, _, body = await get(f"{url}readyz")
    assert status == 503 and json.loads(body)["enforcing"] is False


async def test_the_page_never_changes_state_and_a_token_guards_everything_but_health(
    h: Harness,
) -> None:
    token = "0123456789abcdef-token"
    h.write_settings(DAILY_LOSS)
    path = h.home / "settings.ini"
    path.write_text(
        path.read_text().replace("[web]\nport = 0\n", f"[web]\nport = 0\ntoken = {token}\n")
    )
    await h.start()
    url = web(h).url
    for what in ("", "api/state", "metrics", "events"):
        status, _, body = await get(f"{url}{what}")
        assert status == 401 and "access token" in body, what
    assert (await get(f"{url}healthz"))[0] == 200
    assert (await get(f"{url}readyz"))[0] == 200
    status, _, body = await get(f"{url}api/state?token={token}")
    assert status == 200 and json.loads(body)["accounts"][0]["account_id"] == ACCOUNT
    status, _, _ = await get(f"{url}metrics", Authorization=f"Bearer {token}")
    assert status == 200
    async with aiohttp.ClientSession() as s:
        for method in ("POST", "PUT", "DELETE", "PATCH"):
            async with s.request(method, f"{url}api/state?token={token}", data="{}") as r:
                assert r.status == 405, method
    assert h.acct.state is State.Trading


async def test_the_event_stream_sends_a_transition_within_a_second(h: Harness) -> None:
    await h.start(DAILY_LOSS)
    url = web(h).url
    h.trade("MNQ", "buy", 2)
    await h.until(lambda: MNQ in h.acct.positions, "the position reached the service")
    loop = asyncio.get_running_loop()
    views: list[tuple[float, dict[str, Any]]] = []
    arrived = asyncio.Event()
    async with aiohttp.ClientSession() as s, s.get(f"{url}events") as r:
        assert r.headers["Content-Type"] == "text/event-stream"

        async def read() -> None:
            async for raw in r.content:
                line = raw.decode()
                if line.startswith("data: "):
                    views.append((loop.time(), json.loads(line[len("data: ") :])))
                    arrived.set()

        reader = asyncio.create_task(read())
        await asyncio.wait_for(arrived.wait(), 5)
        assert views[0][1]["accounts"][0]["state"] == "Trading"
        h.gateway.move_price("MNQ", -600)
        await h.until(lambda: h.acct.state is State.LockedDaily, "locked")
        locked_at = loop.time()

        def locked() -> list[tuple[float, dict[str, Any]]]:
            return [v for v in views if v[1]["accounts"][0]["state"] == "LockedDaily"]

        async with asyncio.timeout(5):
            while not locked():
                arrived.clear()
                await arrived.wait()
        reader.cancel()
    at, view = locked()[0]
    assert at - locked_at < 1.0
    account = view["accounts"][0]
    assert account["lock"]["source"] == "RULE-003"
    assert [t["to"] for t in account["transitions"]][-1] == "LockedDaily"


async def test_a_taken_port_is_a_critical_alert_and_enforcement_goes_on(h: Harness) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        h.write_settings(DAILY_LOSS)
        path = h.home / "settings.ini"
        path.write_text(path.read_text().replace("[web]\nport = 0\n", f"[web]\nport = {port}\n"))
        await h.start()
        server = next(c for c in h.svc.components if isinstance(c, WebServer))
        assert server.url is None
        [alert] = [m for m in h.logs if "dashboard not served" in m]
        assert "CRITICAL" in alert and f"127.0.0.1:{port}" in alert and "[web] port" in alert
        h.trade("MNQ", "buy", 2)
        await h.until(lambda: MNQ in h.acct.positions, "the position reached the service")
        h.gateway.move_price("MNQ", -600)
        await h.until(lambda: h.acct.state is State.LockedDaily, "still enforcing")


async def test_metrics_count_a_rejected_close_and_its_retry(h: Harness) -> None:
    await h.start(DAILY_LOSS)
    url = web(h).url
    h.gateway.reject_orders(lambda r: r.source == "close", "market closed", count=1)
    h.trade("MNQ", "buy", 2)
    await h.until(lambda: MNQ in h.acct.positions, "position seen")
    h.gateway.move_price("MNQ", -600)
    await h.until(lambda: any("market closed" in m for m in h.logs), "rejected")
    await h.advance(seconds=3)  # past the retry backoff: the scheduler re-sends
    await h.until(lambda: h.acct.state is State.LockedDaily, "locked")
    registry = web(h).metrics.registry
    latency = "fsm_risk_enforcement_latency_seconds_count"
    await h.until(lambda: registry.get_sample_value(latency, {"action": "close"}) == 2, "both")
    m = samples((await get(f"{url}metrics"))[2])
    acct = (("account", str(ACCOUNT)),)
    assert m[("fsm_risk_closes_sent_total", acct)] == 2.0
    assert m[("fsm_risk_closes_retried_total", acct)] == 1.0
    assert m[("fsm_risk_enforcement_rejected_total", acct)] == 1.0
    assert m[("fsm_risk_closes_confirmed_total", acct)] == 1.0
    assert m[("fsm_risk_enforcement_latency_seconds_sum", (("action", "close"),))] > 0


async def test_the_page_keeps_the_days_transitions_only(h: Harness) -> None:
    """What the page lists is the day's transitions (the latest `DAY_TRANSITIONS`): those of a
    day gone are let go, not kept and filtered at every view for as long as the service runs."""
    await h.start(DAILY_LOSS)
    server = web(h)
    h.trade("MNQ", "buy", 2)
    await h.until(lambda: MNQ in h.acct.positions, "the position reached the service")
    h.gateway.move_price("MNQ", -600)
    await h.until(lambda: h.acct.state is State.LockedDaily, "locked")
    [account] = server.view()["accounts"]
    assert account["transitions"] and account["transitions"][-1]["to"] == "LockedDaily"
    await h.advance(days=1)  # past the daily reset: the lock ends, a new day begins
    await h.until(lambda: h.acct.state is State.Trading, "the new day")
    [account] = server.view()["accounts"]
    today = [t for t in account["transitions"] if t["at"] >= h.acct.day.start.isoformat()]
    assert account["transitions"] == today
    assert server._transitions[ACCOUNT] == today  # the day gone let go
