"""`status --json`'s ``enforcing``, the text, /readyz, /metrics and the dashboard: one answer
(`Service.verdict`), whatever holds the service back.

Found by a hunt: with every position record refused as malformed (the service blind to them)
or the database refusing writes, `status --json` said ``"enforcing": true`` and the account
``"readiness": "ready"`` while /readyz answered 503 (``feed_complete`` or ``state_saved``
false) and the text said only ``feed: DEGRADED`` or ``enforcing from memory``: a trader or a
script reading the JSON was told it was protected when it was not.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from fsm_risk import runtime
from fsm_risk.adapters.broker import Credentials
from fsm_risk.metrics import ready
from tests.e2e.receiver import Receiver
from tests.e2e.service_harness import ACCOUNT, MNQ, Harness, run_cli, web
from tests.e2e.test_storage_failure import FullDisk

LIMITS = """
[broker]
reconcile_interval_seconds = 0
[rule.max_contracts]
limit = 5
[rule.max_contracts_per_instrument]
limits = MNQ: 3
"""


@pytest.fixture
def h(receiver: Receiver, h: Harness) -> Harness:
    """The harness, its notification receiver outliving the service (the start notice)."""
    return h


async def get(url: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as s, s.get(url) as r:
        text = await r.text()
        return r.status, json.loads(text) if "json" in r.content_type else text


def account_ready(text: str) -> float:
    [value] = [
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "fsm_risk_account_ready" and s.labels == {"account": str(ACCOUNT)}
    ]
    return value


async def surfaces(h: Harness) -> dict[str, Any]:
    """What each surface says of enforcement now."""
    url = web(h).url
    code, body = await get(f"{url}readyz")
    rc, out = await run_cli(h.home, "status", "--json")
    assert rc == 0, out
    snap = json.loads(out)
    rc, text = await run_cli(h.home, "status")
    assert rc == 0, text
    _, view = await get(f"{url}api/state")
    _, metrics = await get(f"{url}metrics")
    return {
        "readyz": (code, body),
        "json": snap,
        "text": text,
        "view": view,
        "account_ready": account_ready(metrics),
    }


async def test_status_json_enforcing_agrees_with_readyz_when_blind(h: Harness) -> None:
    await h.start(LIMITS)
    for _ in range(3):
        h.gateway.push_malformed(ACCOUNT, "GatewayUserPosition", "missing_fields")
    await h.until(lambda: h.svc.malformed >= 3, "three position records refused")
    ok, checks = ready(h.svc)
    assert ok is False and checks["feed_complete"] is False
    said = await surfaces(h)
    code, body = said["readyz"]
    assert code == 503 and body["feed_complete"] is False
    snap = said["json"]
    assert snap["enforcing"] is ok, "status --json says enforcing while /readyz says not ready"
    assert body["accounts_ready"] == 0
    assert snap["service"] == {"ready": False, **checks}
    assert snap["accounts"][0]["readiness"] == "feed blind"
    assert said["view"]["accounts"][0]["readiness"] == "feed blind"
    assert said["view"]["service"]["ready"] is False
    assert said["account_ready"] == 0.0
    text = said["text"]
    assert "NOT ENFORCING: blind to position records (refused repeatedly)\n" in text
    assert "  NOT ENFORCING: blind to a kind of the gateway's records (see feed)\n" in text


async def test_status_json_enforcing_agrees_with_readyz_while_the_state_is_not_saved(
    h: Harness,
) -> None:
    await h.start(LIMITS)
    disk = FullDisk(h.svc.store)
    disk.full = True
    h.trade("MNQ", "buy", 1)  # within the limits: only its records to write
    await h.until(lambda: h.svc.unsaved_since is not None, "a commit refused")
    ok, checks = ready(h.svc)
    assert ok is False and checks["state_saved"] is False
    said = await surfaces(h)
    code, body = said["readyz"]
    assert code == 503 and body["state_saved"] is False
    snap = said["json"]
    assert snap["enforcing"] is False, "status --json says enforcing while /readyz says not ready"
    assert snap["service"]["state_saved"] is False and body["accounts_ready"] == 0
    assert snap["accounts"][0]["readiness"] == "state not saved"
    assert said["view"]["accounts"][0]["readiness"] == "state not saved"
    assert said["account_ready"] == 0.0
    text = said["text"]
    assert "enforcing from memory" not in text
    assert "STATE NOT SAVED since " in text and ": NOT ENFORCING as it should\n" in text
    assert "  NOT ENFORCING as it should: its state is not saved\n" in text

    disk.full = False  # written again at the next try (every 3 s)
    await h.until(lambda: h.svc.unsaved_since is None, "saved again")
    said = await surfaces(h)
    assert said["readyz"][0] == 200 and said["json"]["enforcing"] is True
    assert said["json"]["accounts"][0]["readiness"] == "ready"
    assert said["account_ready"] == 1.0
    assert "NOT ENFORCING" not in said["text"]


async def start_holding_trades(h: Harness, release: asyncio.Event) -> None:
    """`h.start`, returning once the service serves, its /Trade/search held until
    ``release``."""
    user, key = h.gateway.credentials()
    urls = (h.gateway.api_url, h.gateway.user_hub_url, h.gateway.market_hub_url)
    service = runtime.make_service(h.settings, Credentials(user, key), urls, clock=h.clock)
    post = service.broker._post

    async def held(path: str, data: dict[str, Any], **kw: Any) -> dict[str, Any]:
        if path == "/Trade/search":
            await release.wait()
        return await post(path, data, **kw)

    service.broker._post = held  # type: ignore[method-assign]
    h.service, h.task = service, asyncio.create_task(service.run())
    serving = asyncio.create_task(service.serving.wait())
    await asyncio.wait({h.task, serving}, timeout=60, return_when=asyncio.FIRST_COMPLETED)
    serving.cancel()
    if h.task.done():
        h.task.result()
    assert service.serving.is_set()


RULES = "[broker]\nreconcile_interval_seconds = 0\n[rule.max_contracts]\nlimit = 5\n"


async def restart_exposed(h: Harness, release: asyncio.Event, rules: str) -> str:
    """A first run holds 1 MNQ; the restart enforces its position, its trades held."""
    await h.start(rules)
    h.trade("MNQ", "buy", 1)
    await h.until(lambda: MNQ in h.acct.positions, "the position reached the service")
    await h.stop()
    await start_holding_trades(h, release)
    await h.until(lambda: h.svc.readiness(ACCOUNT) == "enforcing", "positions enforced")
    return web(h).url


async def test_while_trades_are_read_the_text_does_not_say_both(h: Harness) -> None:
    """Found by a review: an exposed account's positions enforced, its trades still being read
    (the gateway slow to answer /Trade/search): the text said NOT ENFORCING in red above the
    account's ENFORCING."""
    release = asyncio.Event()
    await restart_exposed(h, release, RULES)
    rc, out = await run_cli(h.home, "status")
    assert rc == 0, out
    lines = out.splitlines()
    assert "  ENFORCING; its trades are still being read: the P&L limits wait for them" in lines
    assert not [s for s in lines if s.startswith("NOT ENFORCING:")], out
    release.set()


async def test_the_start_notice_waits_for_readyz(h: Harness, receiver: Receiver) -> None:
    """Found by a review: every account reconciled while the feed was blind to position
    records, the start notice said "fsm-risk is enforcing" while /readyz answered 503 and
    `status --json` said not enforcing (a "Feed down" notice followed 0.4 s later)."""
    release = asyncio.Event()
    url = await restart_exposed(h, release, RULES + f"[notify]\nurls = {receiver.url('all')}\n")
    for _ in range(3):  # the feed goes blind to position records
        h.gateway.push_malformed(ACCOUNT, "GatewayUserPosition", "missing_fields")
    await h.until(lambda: h.svc.broker.health.blind, "blind to position records")
    release.set()
    await h.until(lambda: h.svc.ready.is_set(), "every account reconciled")
    await receiver.wait_for(lambda: receiver.titled("fsm-risk started"), "the start notice")
    code, _ = await get(f"{url}readyz")
    rc, js = await run_cli(h.home, "status", "--json")
    assert rc == 0, js
    [started] = receiver.titled("fsm-risk started")
    assert code == 503 and json.loads(js)["enforcing"] is False
    assert started["title"] == "fsm-risk started: not enforcing yet", started
    assert "fsm-risk is enforcing" not in started["message"], started
