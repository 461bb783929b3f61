"""`status --json`'s ``enforcing``, the text, /readyz, /metrics and the dashboard: one answer
(`Service.verdict`), whatever holds the service back.

Found by a hunt: with every position record refused as malformed (the service blind to them)
or the database refusing writes, `status --json` said ``"enforcing": true`` and the account
``"readiness": "ready"`` while /readyz answered 503 (``feed_complete`` or ``state_saved``
false) and the text said only ``feed: DEGRADED`` or ``enforcing from memory``: a trader or a
script reading the JSON was told it was protected when it was not.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from fsm_risk.metrics import ready
from tests.e2e.service_harness import ACCOUNT, Harness, run_cli, web
from tests.e2e.test_storage_failure import FullDisk

LIMITS = """
[broker]
reconcile_interval_seconds = 0
[rule.max_contracts]
limit = 5
[rule.max_contracts_per_instrument]
limits = MNQ: 3
"""


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
