"""Start-up reconciliation within the gateway's request budget (the real SDK against the paper
gateway, whose rate limit is as tight as the service's budget, scaled down in time): locked and
exposed accounts are reconciled, and enforced, before the flat ones; each account enforces as
soon as its own reconciliation is done; `status`, /readyz and /metrics say which do."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from fsm_risk import runtime
from fsm_risk.adapters.broker import (
    Credentials,
    Priority,
    ProjectXBroker,
    RequestBudget,
    sdk_config,
)
from fsm_risk.core.events import AccountUpdate, PositionUpdate
from fsm_risk.core.states import State
from fsm_risk.paper import PaperAccount, PaperGateway
from tests.e2e.service_harness import ACCOUNT, MNQ, Harness, lock_by_daily_loss, run_cli, web

RULES = "[rule.daily_loss_limit]\nlimit = 500\n[rule.max_contracts]\nlimit = 3\n"
IDS = list(range(1001, 1013))
LOCKED, EXPOSED = ACCOUNT, 1012  # the last in every order but the service's own
FLAT = [a for a in IDS if a not in (LOCKED, EXPOSED)]
TRADED = FLAT[-1]  # flat, but traded in the first run
ACCOUNTS = tuple(PaperAccount(i, f"PAPER-{i - 1000}", Decimal("50000.00")) for i in IDS)
#: 15 reads per 5 s: at most as many accounts reconciled per window as 200 a minute allows
#: for a book of ~50; the flat ten need at least two more windows after the urgent ones
LIMIT, RESERVE, WINDOW = 20, 5, 5.0


async def start_with_budget(h: Harness, requests: list[tuple[str, int, str]] | None = None) -> None:
    """`h.start`, but with the scaled budget, and returning as soon as the service serves
    (the harness's own start waits for every account). ``requests``: every REST request the
    service makes, as (path, account, that account's readiness then)."""
    h.gateway.set_rate_limit(LIMIT + 2, WINDOW)  # (+2: the SDK's own login reads)
    user, key = h.gateway.credentials()
    urls = (h.gateway.api_url, h.gateway.user_hub_url, h.gateway.market_hub_url)
    service = runtime.make_service(h.settings, Credentials(user, key), urls, clock=h.clock)
    service.broker.budget = RequestBudget(LIMIT, WINDOW, RESERVE)
    if requests is not None:
        post = service.broker._post

        async def recorded(path: str, data: dict[str, Any], **kw: Any) -> dict[str, Any]:
            account = int(data.get("accountId") or 0)
            ready = service.readiness(account) if account else ""
            requests.append((path, account, ready))
            return await post(path, data, **kw)

        service.broker._post = recorded  # type: ignore[method-assign]
    h.service, h.task = service, asyncio.create_task(service.run())
    serving = asyncio.create_task(service.serving.wait())
    await asyncio.wait({h.task, serving}, timeout=60, return_when=asyncio.FIRST_COMPLETED)
    serving.cancel()
    if h.task.done():
        h.task.result()
    assert service.serving.is_set()


async def get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as s, s.get(url) as r:
        return r.status, await r.text()


@pytest.mark.paper(accounts=ACCOUNTS)
async def test_locked_and_exposed_accounts_are_enforced_before_the_flat_ones(
    h: Harness,
) -> None:
    await h.start(RULES)  # a first run: every account in the store, then one locked
    await lock_by_daily_loss(h)
    h.gateway.place_order(TRADED, "MNQ", 0, 1)  # a flat account that trades: its fills stored
    h.gateway.place_order(TRADED, "MNQ", 1, 1)
    await h.until(lambda: len(h.svc.engine.accounts[TRADED].seen_trades) == 2, "fills seen")
    await h.until(lambda: not h.svc.engine.accounts[TRADED].positions, "flat again")
    await h.stop()
    # while the service is down: the locked account trades again, a flat one goes over the
    # contract limit (the store knows neither)
    h.trade("MNQ", "buy", 1)
    h.gateway.place_order(EXPOSED, "MNQ", 0, 5)

    await start_with_budget(h)
    svc = h.svc
    order: list[int] = []
    await svc.wait_for(
        lambda: order.extend(a for a in sorted(svc.known) if a not in order) or len(order) > 2,
        60,
        "three accounts reconciled",
    )
    assert order[:2] in ([LOCKED, EXPOSED], [EXPOSED, LOCKED]), order
    # the positions of the one that traded lately were read among the first (four at a time)
    assert TRADED in list(svc.probed)[:4], list(svc.probed)
    contract = h.gateway.contract("MNQ").id
    await h.gw_until(lambda: h.position("MNQ") == 0, "the locked account flattened")
    await h.gw_until(
        lambda: (p := h.gateway.position(EXPOSED, contract)) is not None and p.size == 3,
        "the exposed account reduced to the limit",
    )
    assert h.acct.state is State.LockedDaily

    # the flat ones are still waiting for the budget: visible as such, and held to account
    waiting = [a for a in FLAT if a not in svc.known]
    assert waiting, "the flat accounts were not behind the budget"
    url = web(h).url
    code, body = await get(f"{url}readyz")
    ready = json.loads(body)
    assert code == 503 and ready["reconciled"] is False
    assert ready["accounts"] == 12 and 2 <= ready["accounts_ready"] < 12
    rc, out = await run_cli(h.home, "status", "--json")
    assert rc == 0, out
    shown = {a["account_id"]: a["readiness"] for a in json.loads(out)["accounts"]}
    # enforcing (their trades read or still to be read after the other exposed accounts')
    assert {shown[LOCKED], shown[EXPOSED]} <= {"enforcing", "ready"}, shown
    assert any(shown[a] in ("queued", "reconciling") for a in FLAT), shown
    # a live fill of an account not reconciled yet is applied at once (never dropped)
    last = max(a for a in FLAT if a not in svc.known)
    h.gateway.place_order(last, "MNQ", 0, 1)
    await h.until(lambda: MNQ in svc.engine.accounts[last].positions, "the live fill applied")

    await h.until(lambda: svc.ready.is_set(), "every account reconciled", 120)
    assert set(svc.known) == set(IDS)
    assert svc.engine.accounts[last].positions[MNQ].size == 1
    code, body = await get(f"{url}readyz")
    assert code == 200 and json.loads(body)["accounts_ready"] == 12
    rc, out = await run_cli(h.home, "status", "--json")
    assert {a["readiness"] for a in json.loads(out)["accounts"]} == {"ready"}


class CountingBudget(RequestBudget):
    sent = 0

    async def acquire(self, priority: Priority = Priority.READ, tag: int | None = None) -> None:
        await super().acquire(priority, tag)
        self.sent += 1


async def test_reconciliations_waiting_for_the_budget_share_one_balance_listing(
    paper_gateway: PaperGateway,
) -> None:
    gw = paper_gateway
    user, key = gw.credentials()
    budget = CountingBudget(3, 1.0, 0)
    urls = (gw.api_url, gw.user_hub_url, gw.market_hub_url)
    broker = ProjectXBroker(
        sdk_config(*urls), Credentials(user, key), lambda _: None, budget=budget
    )
    # the login, the SDK's account listing after it and ours: the budget is spent for a second
    await broker.start()
    try:
        assert budget.sent == 3
        listings = await asyncio.gather(*(broker.balances() for _ in range(3)))
        assert budget.sent == 4  # one request, sent after all three asked
        assert listings[0] == listings[1] == listings[2]
        assert [a.account_id for a in listings[0]] == [ACCOUNT]
        await broker.balances()  # asked after that one was sent: a read of its own
        assert budget.sent == 5
    finally:
        await broker.stop()


@pytest.mark.paper(accounts=ACCOUNTS[:3])
async def test_snapshots_under_way_together_read_the_balances_once(
    paper_gateway: PaperGateway,
) -> None:
    gw = paper_gateway
    user, key = gw.credentials()
    budget = CountingBudget(1000, 60.0, 0)
    urls = (gw.api_url, gw.user_hub_url, gw.market_hub_url)
    broker = ProjectXBroker(
        sdk_config(*urls), Credentials(user, key), lambda _: None, budget=budget
    )
    await broker.start()
    try:
        gw.place_order(1002, "MNQ", 0, 1)
        before = budget.sent
        since = gw.now() - timedelta(days=1)
        snaps = await asyncio.gather(*(broker.snapshot(a, since) for a in IDS[:3]))
        # working orders, trades and positions for each; the balances once for the three
        assert budget.sent - before == 3 * 3 + 1
        balances = [[e for e in s if isinstance(e, AccountUpdate)] for s in snaps]
        assert [[b.account_id for b in found] for found in balances] == [[a] for a in IDS[:3]]
        held = [[e.contract_id for e in s if isinstance(e, PositionUpdate)] for s in snaps]
        assert held == [[], [MNQ], []]
    finally:
        await broker.stop()


@pytest.mark.paper(accounts=ACCOUNTS)
async def test_every_exposed_account_is_enforced_before_any_trade_history_is_read(
    h: Harness,
) -> None:
    """Two exposed accounts, a budget that reads 15 a window: both read their working orders
    and positions and are enforced (the locked one flattened, the other reduced) before the
    first trade list is asked for; each trade list is read while its account already
    enforces, its trades not read yet ('enforcing' in `status`)."""
    await h.start(RULES)
    await lock_by_daily_loss(h)
    h.gateway.place_order(EXPOSED, "MNQ", 0, 2)  # within the limit of 3
    await h.until(lambda: MNQ in h.svc.engine.accounts[EXPOSED].positions, "the position seen")
    await h.stop()
    h.trade("MNQ", "buy", 1)  # while down: the locked account trades, the other goes over
    h.gateway.place_order(EXPOSED, "MNQ", 0, 2)

    requests: list[tuple[str, int, str]] = []
    await start_with_budget(h, requests)
    contract = h.gateway.contract("MNQ").id
    await h.gw_until(lambda: h.position("MNQ") == 0, "the locked account flattened", 60)
    await h.gw_until(
        lambda: (p := h.gateway.position(EXPOSED, contract)) is not None and p.size == 3,
        "the exposed account reduced to the limit",
        60,
    )
    await h.until(lambda: h.svc.ready.is_set(), "every account reconciled", 120)
    paths = [(path, a) for path, a, _ in requests]
    first_trades = paths.index(next(p for p in paths if p[0] == "/Trade/search"))
    enforced = [paths.index(("/Position/closeContract", LOCKED)),
                paths.index(("/Position/partialCloseContract", EXPOSED))]  # fmt: skip
    assert max(enforced) < first_trades, paths[: first_trades + 1]
    for a in (LOCKED, EXPOSED):
        assert paths.index(("/Order/searchOpen", a)) < first_trades
        assert paths.index(("/Position/searchOpen", a)) < first_trades
        trades = [ready for path, b, ready in requests if path == "/Trade/search" and b == a]
        assert trades == ["enforcing"], trades
    assert h.svc.engine.accounts[EXPOSED].net[MNQ] == 3  # its trades read late, booked once
    assert h.acct.state is State.LockedDaily
    rc, out = await run_cli(h.home, "status", "--json")
    assert rc == 0, out
    assert {a["readiness"] for a in json.loads(out)["accounts"]} == {"ready"}


@pytest.mark.paper(accounts=ACCOUNTS)
async def test_a_waiting_flat_account_heard_exposed_live_is_reconciled_before_the_others(
    h: Harness,
) -> None:
    """The flat accounts wait for the budget; one of them, last in line, opens a position:
    heard live, it is exposed, and its reconciliation is the next of theirs to start."""
    await h.start(RULES)  # a first run: every account in the store
    await h.stop()
    requests: list[tuple[str, int, str]] = []
    await start_with_budget(h, requests)
    svc = h.svc
    queued = await svc.wait_for(
        lambda: (
            q
            if len(q := [a for a in FLAT if svc.reconciler.state(a) == "queued"]) > 2
            and all(a in svc.probed for a in q)
            else None
        ),
        60,
        "flat accounts probed and waiting for the budget",
    )
    last = queued[-1]
    since = len(requests)
    h.gateway.place_order(last, "MNQ", 0, 1)
    await h.until(lambda: MNQ in svc.engine.accounts[last].positions, "the live fill applied")
    behind = [a for a in queued if a != last and svc.reconciler.state(a) == "queued"]
    assert behind
    await h.until(lambda: last in svc.known, "the exposed one reconciled", 60)
    started = [a for path, a, _ in requests[since:] if path == "/Order/searchOpen"]
    first = started.index(last)
    assert not any(a in behind for a in started[:first]), (last, behind, started)
    await h.until(lambda: svc.ready.is_set(), "every account reconciled", 120)
