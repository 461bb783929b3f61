"""The gateway's own history of an account, as replay entries, for when there is no journal.

Read through the SDK's REST client (the broker adapter's connection and request budget): the
account's trades (`/Trade/search`) and orders (`/Order/search`) over the window, the tick
size and value of every contract traded, and one-minute bars (`/History/retrieveBars`, which
has its own, smaller rate limit) for the marks between fills. A bar becomes four quotes in its
minute: open, the two extremes in the order the bar most likely took them, close. Orders
become a working update when placed and their final status when filled (at the first fill) or
ended; a market order only its final status.

What the history cannot say: positions held before the window (the replay starts flat) and
the balance then (the current balance less the window's net P&L).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from loguru import logger

from fsm_risk.adapters import payloads
from fsm_risk.adapters.broker import ProjectXBroker, RequestBudget
from fsm_risk.core.events import (
    AccountUpdate,
    Event,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Quote,
)
from fsm_risk.replay import Entry

#: one-minute bars (the gateway's unit 2 is the minute)
BAR_UNIT, BAR_SECONDS = 2, 60
#: at most this many bars per request (a week of minutes fits)
BARS_PER_REQUEST = 10_080
#: the bars endpoint's own budget: 30 requests per 30 s (the stricter of the two sources)
BARS_BUDGET = (30, 30.0)
#: the order of simultaneous entries: instruments and balance, quotes, orders, fills
_RANK = {"InstrumentInfo": 0, "AccountUpdate": 1, "Quote": 2, "OrderUpdate": 3, "Fill": 4}


async def account_history(
    broker: ProjectXBroker,
    account: AccountUpdate,
    start: datetime,
    end: datetime,
    bars_budget: RequestBudget | None = None,
) -> list[Entry]:
    """Everything the gateway still knows of ``account`` between ``start`` and ``end``."""
    bars_budget = bars_budget or RequestBudget(BARS_BUDGET[0], BARS_BUDGET[1], 0)
    span = {"accountId": account.account_id, "startTimestamp": start.isoformat()}
    span["endTimestamp"] = end.isoformat()
    fills = []
    for raw in (await broker._post("/Trade/search", span)).get("trades", []):
        try:
            fills.append(payloads.trade(raw))
        except payloads.PayloadError as exc:
            logger.warning("history: trade skipped: {}", exc)
    fills = [f for f in fills if start <= f.at < end]
    orders: list[tuple[OrderUpdate, datetime | None]] = []
    for raw in (await broker._post("/Order/search", span)).get("orders", []):
        try:
            orders.append((payloads.order(raw), _updated(raw)))
        except payloads.PayloadError as exc:
            logger.warning("history: order skipped: {}", exc)
    events: list[tuple[datetime, Event]] = []
    contracts = sorted({f.contract_id for f in fills} | {o.contract_id for o, _ in orders})
    for cid in contracts:
        info = await broker.instrument(cid)
        if info is not None:
            events.append((start, info))
    net = sum(((f.pnl or Decimal(0)) - f.fees for f in fills if not f.voided), Decimal(0))
    events.append(
        (
            start,
            AccountUpdate(
                account.account_id, account.name, account.balance - net, account.can_trade
            ),
        )
    )
    first_fill: dict[int, datetime] = {}
    for f in sorted(fills, key=lambda f: (f.at, f.trade_id)):
        first_fill.setdefault(f.order_id, f.at)
        events.append((f.at, f))
    for o, updated in orders:
        events.extend(_order_events(o, updated, first_fill.get(o.order_id), end))
    for cid in contracts:
        for at, q in await _bars(broker, bars_budget, cid, start, end):
            events.append((at, q))
    events.sort(key=lambda x: (x[0], _RANK.get(type(x[1]).__name__, 5)))
    return [Entry(at, getattr(ev, "account_id", None), ev) for at, ev in events]


def _updated(raw: Any) -> datetime | None:
    stamp = raw.get("updateTimestamp") if isinstance(raw, dict) else None
    if not stamp:
        return None
    try:
        return payloads.parse_time("order", stamp, "updateTimestamp")
    except payloads.PayloadError:
        return None


def _order_events(
    o: OrderUpdate, updated: datetime | None, filled_at: datetime | None, end: datetime
) -> list[tuple[datetime, Event]]:
    from dataclasses import replace

    out: list[tuple[datetime, Event]] = []
    if o.type is not OrderType.MARKET or o.status.working:
        out.append((o.created_at, replace(o, status=OrderStatus.OPEN, fill_volume=0)))
    if o.status.working:
        return out
    at = filled_at if o.status is OrderStatus.FILLED and filled_at else updated or o.created_at
    if o.type is OrderType.MARKET and o.status is OrderStatus.FILLED and filled_at:
        at = filled_at
    out.append((min(at, end), o))
    return out


async def _bars(
    broker: ProjectXBroker,
    budget: RequestBudget,
    cid: str,
    start: datetime,
    end: datetime,
) -> list[tuple[datetime, Quote]]:
    quotes: list[tuple[datetime, Quote]] = []
    t = start
    while t < end:
        stop = min(end, t + timedelta(seconds=BAR_SECONDS * BARS_PER_REQUEST))
        async with budget.slot():  # the bars' own bucket, beside the request budget
            raw = await broker._post(
                "/History/retrieveBars",
                {
                    "contractId": cid,
                    "live": False,
                    "startTime": t.isoformat(),
                    "endTime": stop.isoformat(),
                    "unit": BAR_UNIT,
                    "unitNumber": 1,
                    "limit": BARS_PER_REQUEST,
                    "includePartialBar": False,
                },
            )
        for bar in raw.get("bars") or []:
            try:
                opened = payloads.parse_time("bar", bar["t"], "t")
                o, h, low, c = (Decimal(str(bar[k])) for k in ("o", "h", "l", "c"))
            except (KeyError, TypeError, ArithmeticError, ValueError, payloads.PayloadError):
                logger.warning("history: bar of {} skipped: {!r}", cid, bar)
                continue
            if not start <= opened < end:
                continue
            path = (o, low, h, c) if c >= o else (o, h, low, c)
            for k, price in enumerate(path):
                at = opened + timedelta(seconds=(20 * k if k < 3 else BAR_SECONDS - 1))
                quotes.append((at, Quote(cid, at, price)))
        t = stop
    return quotes
