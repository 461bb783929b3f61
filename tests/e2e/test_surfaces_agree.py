"""Every surface tells one truth about enforcement (real SDK, paper gateway, service):
`status` (text and --json), /readyz, /metrics, the dashboard's /api/state, notifications.

Reported: with the gateway answering every read 429, an account held 9 MNQ against limits of
5/3 for a minute while every surface said healthy, ready and enforcing (only the log said
`reconciliation failed`, every 10 s). And while `status` printed `NOT ENFORCING: close of ...
not confirmed`, `status --json` said `"enforcing": true` and the account `"readiness":
"ready"`, /readyz counted it in `accounts_ready`, /metrics had its `fsm_risk_account_ready 1`
and the dashboard showed nothing.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from fsm_risk.adapters.broker import Priority
from fsm_risk.core.states import State
from fsm_risk.paper.settings import _accounts
from tests.e2e.receiver import Receiver
from tests.e2e.service_harness import ACCOUNT, MNQ, Harness, lock_by_daily_loss, run_cli, web

ORDERS = "/api/Order/searchOpen"


@pytest.fixture
def h(receiver: Receiver, h: Harness) -> Harness:
    """The service set up after the receiver, so it stops first."""
    return h


async def get(url: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as s, s.get(url) as r:
        text = await r.text()
        return r.status, json.loads(text) if "json" in r.content_type else text


def metrics(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_reads_failing_in_a_row_show_on_every_surface_until_one_answers(
    h: Harness, receiver: Receiver
) -> None:
    await h.start(
        "[broker]\nreconcile_interval_seconds = 0\n"
        f"[notify]\nurls = {receiver.url('all')}\nevents = feed\n"
    )
    url, acct = web(h).url, str(ACCOUNT)
    h.gateway.fail_rest(ORDERS, 503, count=6)  # three sends per read: two reads fail
    await h.svc.reconcile(ACCOUNT)
    code, body = await get(f"{url}readyz")  # one failure alone: tried again, says nothing yet
    assert code == 200 and h.svc.health()["healthy"] is True
    await h.svc.reconcile(ACCOUNT)

    code, body = await get(f"{url}readyz")
    assert code == 503 and body["reads_answered"] is False and body["accounts_ready"] == 0
    assert list(h.svc.reads_failing()) == [ACCOUNT]
    code, text = await get(f"{url}metrics")
    m = metrics(text)
    assert m[("fsm_risk_feed_healthy", ())] == 0.0
    assert m[("fsm_risk_ready", ())] == 0.0
    assert m[("fsm_risk_reads_failing", ())] == 1.0
    assert m[("fsm_risk_account_ready", (("account", acct),))] == 0.0
    assert m[("fsm_risk_accounts_ready", ())] == 0.0
    rc, out = await run_cli(h.home, "status")
    assert rc == 0
    assert f"feed: DEGRADED (reads failing for {ACCOUNT})" in out
    assert f"reads of account {ACCOUNT} failing: nothing confirmed since " in out
    assert "    2 failed in a row, the last ProjectXServerError\n" in out
    assert "  READS FAILING: its state at the gateway not confirmed since " in out
    rc, out = await run_cli(h.home, "status", "--json")
    assert rc == 0
    snap = json.loads(out)
    assert snap["enforcing"] is False
    assert snap["accounts"][0]["readiness"] == "reads failing"
    assert snap["feed"]["healthy"] is False
    assert snap["feed"]["reads_failing"][acct]["failures"] == 2
    code, view = await get(f"{url}api/state")
    assert view["feed"]["reads_failing"][acct]["failures"] == 2
    assert view["accounts"][0]["readiness"] == "reads failing"
    down = await receiver.wait_for(lambda: receiver.titled("Feed down"), "feed down")
    said = down[0]["message"]
    assert f"the gateway's reads of account {ACCOUNT} PAPER-1 failing: its state not " in said
    assert "(2 failed in a row, the last ProjectXServerError)" in said

    await h.svc.reconcile(ACCOUNT)  # answered again
    assert h.svc.reads_failing() == {}
    code, body = await get(f"{url}readyz")
    assert code == 200 and body["reads_answered"] is True and body["accounts_ready"] == 1
    await receiver.wait_for(lambda: receiver.titled("Feed up"), "feed up")
    assert len(receiver.titled("Feed down")) == 1  # once when it began, once when it ended
    rc, out = await run_cli(h.home, "status", "--json")
    assert rc == 0
    assert json.loads(out)["enforcing"] is True


async def test_reads_held_back_unanswered_for_three_intervals_show_as_failing(h: Harness) -> None:
    """Reported: with the gateway's window full (429 with a Retry-After), every read waited in
    the request budget: nothing failed, nothing was confirmed, and every surface said ready.
    Now none answered for three reconcile intervals is failing too, until one answers."""
    import asyncio

    await h.start("[broker]\nreconcile_interval_seconds = 1\n")
    url, every = web(h).url, h.svc.poll_every()  # 3.2 s: the request budget's pace
    await h.svc.reconcile(ACCOUNT)  # answered: the last read confirmed now
    h.gateway.limit_rest(3 * every + 3)  # another program on the key fills the window

    async def polled(predicate: Any, what: str, timeout: float) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                await asyncio.sleep(0.2)  # time passing is the event waited for

    await polled(lambda: ACCOUNT in h.svc.reads_failing(), "failing", 3 * every + 3)
    assert h.svc.reads_failing()[ACCOUNT].failures == 0  # nothing failed: held back
    code, body = await get(f"{url}readyz")
    assert code == 503 and body["reads_answered"] is False
    rc, out = await run_cli(h.home, "status")
    assert rc == 0
    assert "    no answer: reads held back or hung\n" in out
    await polled(lambda: not h.svc.reads_failing(), "answered again", 60)
    code, body = await get(f"{url}readyz")
    assert code == 200 and body["reads_answered"] is True


async def test_a_close_not_confirmed_is_not_enforcing_on_every_surface(h: Harness) -> None:
    await h.start("[rule.max_contracts]\nlimit = 5\n")
    url, acct = web(h).url, str(ACCOUNT)
    budget = h.svc.broker.budget
    held = 0
    while budget.wait_for(Priority.CLOSE) == 0:  # every slot in flight: nothing goes
        await budget.acquire(Priority.CLOSE)
        held += 1
    h.trade("MNQ", "buy", 7)
    await h.until(lambda: h.contract_state(MNQ) is State.Flattening, "the breach heard")
    await h.advance(seconds=3)  # the close timeout is 2 s
    rc, out = await run_cli(h.home, "status")
    assert rc == 0
    assert f"NOT ENFORCING: close of {MNQ} not confirmed for 3 s" in out
    rc, out = await run_cli(h.home, "status", "--json")
    assert rc == 0
    snap = json.loads(out)
    assert snap["enforcing"] is False
    assert snap["accounts"][0]["readiness"] == "close not confirmed"
    assert snap["readiness"]["ready"] == 0 and snap["readiness"]["reconciled"] == 1
    code, body = await get(f"{url}readyz")
    assert code == 503 and body["closes_confirmed"] is False and body["accounts_ready"] == 0
    code, text = await get(f"{url}metrics")
    m = metrics(text)
    assert m[("fsm_risk_account_ready", (("account", acct),))] == 0.0
    assert m[("fsm_risk_accounts_ready", ())] == 0.0
    assert m[("fsm_risk_ready", ())] == 0.0
    code, view = await get(f"{url}api/state")
    assert list(view["accounts"][0]["closes_unconfirmed"]) == [MNQ]
    assert view["accounts"][0]["readiness"] == "close not confirmed"
    assert view["service"]["ready"] is False

    budget.window = 0.01  # (as if the slots' minute had passed once they are answered)
    for _ in range(held):
        budget.release()
    await h.until(lambda: h.contract_state(MNQ) is State.Trading, "confirmed")
    rc, out = await run_cli(h.home, "status", "--json")
    assert rc == 0
    snap = json.loads(out)
    assert snap["enforcing"] is True and snap["accounts"][0]["readiness"] == "ready"
    m = metrics((await get(f"{url}metrics"))[1])
    assert m[("fsm_risk_account_ready", (("account", acct),))] == 1.0
    code, view = await get(f"{url}api/state")
    assert view["accounts"][0]["readiness"] == "ready"
    assert view["accounts"][0]["closes_unconfirmed"] == {}


async def test_a_restart_mid_incident_keeps_the_unconfirmed_close_and_its_age(
    h: Harness, receiver: Receiver
) -> None:
    """Reported: after a restart the "close not confirmed" alarm was gone for ~10 s (/readyz
    200, "fsm-risk is enforcing" notified), then came back with its age counted from the
    restart (17 s for a close failing for 78 s). Its start is stored now: the account is not
    enforcing from the first moment after the restart, with the age from the first close."""
    rules = f"[rule.max_contracts]\nlimit = 5\n[notify]\nurls = {receiver.url('all')}\n"
    await h.start(rules)
    url = web(h).url
    refused = h.gateway.reject_orders(lambda r: r.source in ("close", "partial_close"))
    h.trade("MNQ", "buy", 7)
    await h.until(lambda: h.contract_state(MNQ) is State.Flattening, "the breach heard")
    await h.until(lambda: h.acct.contracts[MNQ].wanted_since is not None, "the reduce sent")
    first = h.acct.contracts[MNQ].wanted_since
    await h.advance(seconds=10)
    assert h.svc.unconfirmed_closes()[ACCOUNT] == {MNQ: first}
    await h.stop()
    told = len(receiver.delivered())
    await h.advance(seconds=20)
    await h.start()
    url = web(h).url
    code, body = await get(f"{url}readyz")  # at once, not once a close is refused again
    assert code == 503 and body["closes_confirmed"] is False
    assert h.svc.unconfirmed_closes()[ACCOUNT] == {MNQ: first}  # from the first close
    rc, out = await run_cli(h.home, "status")
    assert rc == 0
    assert f"NOT ENFORCING: close of {MNQ} not confirmed for 30 s" in out
    rc, out = await run_cli(h.home, "status", "--json")
    assert rc == 0
    assert json.loads(out)["accounts"][0]["readiness"] == "close not confirmed"

    def since_restart() -> list[dict[str, Any]]:
        return receiver.delivered()[told:]

    await receiver.wait_for(
        lambda: [m for m in since_restart() if m["title"].endswith("not enforcing yet")],
        "the start said not enforcing",
    )
    after = since_restart()
    assert not [m for m in after if m["title"] in ("fsm-risk started", "fsm-risk enforcing")]
    [waiting] = [m for m in after if m["title"] == "fsm-risk started: not enforcing yet"]
    assert f"account(s) {ACCOUNT} with a close not confirmed in time" in waiting["message"]

    h.gateway.clear_rejections(refused)
    await h.advance(seconds=5)  # the next try, at most close_backoff_max_seconds on
    await h.gw_until(lambda: h.position("MNQ") == 5, "reduced")
    await h.until(lambda: h.contract_state(MNQ) is State.Trading, "confirmed")
    await receiver.wait_for(lambda: receiver.titled("fsm-risk enforcing"), "now enforcing")
    code, body = await get(f"{url}readyz")
    assert code == 200 and body["closes_confirmed"] is True


@pytest.mark.paper(accounts=_accounts("1001: PAPER-1: 50000: true, 1002: PAPER-2: 50000: true"))
async def test_one_accounts_reads_answering_while_anothers_fail_sends_no_notice(
    h: Harness, receiver: Receiver
) -> None:
    """No flood: a notice when an account's reads begin failing, none when one of several
    ends, the feed's all-clear when the last does."""
    import asyncio

    await h.start(
        "[broker]\nreconcile_interval_seconds = 0\n"
        f"[notify]\nurls = {receiver.url('all')}\nevents = feed\n"
    )
    h.gateway.fail_rest(ORDERS, 503, count=12)  # two reads of each account fail
    for account in (1001, 1002, 1001, 1002):
        await h.svc.reconcile(account)
    assert set(h.svc.reads_failing()) == {1001, 1002}
    await receiver.wait_for(  # (one notice, or one per account as each began)
        lambda: [m for m in receiver.titled("Feed down") if "account 1002" in m["message"]],
        "feed down naming 1002",
    )
    await h.svc.reconcile(1001)  # answered again; 1002 still failing
    assert set(h.svc.reads_failing()) == {1002}
    downs = len(receiver.titled("Feed down"))
    await asyncio.sleep(2.5)  # two of the watchdog's rounds: nothing new is said
    assert len(receiver.titled("Feed down")) == downs and not receiver.titled("Feed up")
    await h.svc.reconcile(1002)
    await receiver.wait_for(lambda: receiver.titled("Feed up"), "feed up")
    assert len(receiver.titled("Feed down")) == downs


async def test_a_user_hub_down_is_not_enforcing_on_every_surface(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reported (a network outage): with the user hub known down, /readyz answered 503
    (`connected: false`) while `status --json` said `"enforcing": true` and every account
    `ready`, and `status` nothing. The user hub marked down as the watchdog's poll
    (`poll_connections`) marks it when it finds the hub's reader dead, and held there while
    the surfaces are read: the poll is switched off, since the paper websocket stays open and
    the next poll, within a second, would mark it connected again before the two `status`
    runs end on a loaded machine. What every surface makes of the flag is what this shows."""
    await h.start()
    url = web(h).url
    monkeypatch.setattr(h.svc.broker, "poll_connections", lambda: None)
    h.svc.broker.health.user_connected[ACCOUNT] = False
    code, body = await get(f"{url}readyz")
    assert code == 503 and body["connected"] is False and body["accounts_ready"] == 0
    rc, out = await run_cli(h.home, "status", "--json")
    assert rc == 0
    snap = json.loads(out)
    assert snap["enforcing"] is False and snap["accounts"][0]["readiness"] == "feed down"
    rc, out = await run_cli(h.home, "status")
    assert rc == 0
    assert "  NOT ENFORCING: the gateway's live feed is down (reconnecting)" in out
    code, text = await get(f"{url}metrics")
    assert metrics(text)[("fsm_risk_account_ready", (("account", str(ACCOUNT)),))] == 0.0
    h.svc.broker.health.user_connected[ACCOUNT] = True  # reconnected
    rc, out = await run_cli(h.home, "status", "--json")
    assert rc == 0 and json.loads(out)["enforcing"] is True


async def test_a_locked_accounts_opening_order_whose_cancel_is_refused_is_not_enforcing(
    h: Harness,
) -> None:
    """Reported: on a locked account an opening buy of 10 MNQ was working and the gateway
    refused every cancel (34 in 5.5 minutes, the order still working) while `status`, `status
    --json`, the dashboard, readiness and /readyz all said enforcing: only closes counted.
    Filled, that order opens a position during the lock. Now a cancel of such an order refused
    (or unanswered) past a close timeout is NOT ENFORCING on each, naming the order, until the
    order is gone."""
    from fsm_risk.core.events import OrderType

    await h.start("[rule.daily_loss_limit]\nlimit = 500\n")
    url, acct = web(h).url, str(ACCOUNT)
    await lock_by_daily_loss(h)
    h.gateway.refuse_cancels("Order cannot be cancelled")
    last = h.gateway.quote(MNQ).last
    oid = h.trade("MNQ", "buy", 10, type=OrderType.LIMIT, limit_price=last - 100).order_id
    await h.until(lambda: (o := h.acct.orders.get(oid)) and o.cancel_refused, "a cancel refused")
    first = h.acct.orders[oid].cancel_since
    assert first is not None
    code, body = await get(f"{url}readyz")  # within a close timeout (2 s): a race, not yet
    assert code == 200 and body["cancels_confirmed"] is True
    for _ in range(6):  # each re-send refused: the order still working
        await h.advance(seconds=1)
        await h.until(lambda: not h.enforcing(), "the re-sent cancel answered")
    assert oid in h.acct.orders and h.gateway.order(oid).working
    assert h.acct.orders[oid].cancel_attempts >= 2

    code, body = await get(f"{url}readyz")
    assert code == 503 and body["cancels_confirmed"] is False and body["accounts_ready"] == 0
    assert body["closes_confirmed"] is True  # (nothing to close: only the order)
    rc, out = await run_cli(h.home, "status")
    assert rc == 0
    assert "NOT ENFORCING: 1 account(s) with a cancel not confirmed in time\n" in out
    assert f"  NOT ENFORCING: cancel of order {oid} in {MNQ} refused\n    since " in out
    rc, out = await run_cli(h.home, "status", "--json")
    assert rc == 0
    snap = json.loads(out)
    assert snap["enforcing"] is False
    assert snap["readiness"]["ready"] == 0 and snap["readiness"]["cancels_unconfirmed"] == 1
    [a] = snap["accounts"]
    assert a["readiness"] == "cancel not confirmed"
    stuck = {"order_id": oid, "contract_id": MNQ, "since": first.isoformat(), "refused": True}
    assert a["cancels_unconfirmed"] == [stuck]
    m = metrics((await get(f"{url}metrics"))[1])
    assert m[("fsm_risk_account_ready", (("account", acct),))] == 0.0
    assert m[("fsm_risk_ready", ())] == 0.0
    code, view = await get(f"{url}api/state")
    assert view["accounts"][0]["readiness"] == "cancel not confirmed"
    assert view["accounts"][0]["cancels_unconfirmed"] == [stuck]
    assert view["service"]["ready"] is False and view["service"]["cancels_confirmed"] is False

    h.gateway.refuse_cancels(None)  # the gateway takes cancels again: the next one goes
    await h.advance(seconds=11)  # (at most a cancel timeout, 10 s, on)
    await h.until(lambda: oid not in h.acct.orders, "the order cancelled")
    assert not h.gateway.order(oid).working
    code, body = await get(f"{url}readyz")
    assert code == 200 and body["cancels_confirmed"] is True and body["accounts_ready"] == 1
    rc, out = await run_cli(h.home, "status", "--json")
    assert rc == 0
    snap = json.loads(out)
    assert snap["enforcing"] is True and snap["accounts"][0]["cancels_unconfirmed"] == []
