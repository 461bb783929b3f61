"""Where a replay's events come from: the service's journal (in the database), or the
gateway's own history when there is no journal (see `fsm_risk.adapters.history`)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from fsm_risk import config, naming
from fsm_risk.adapters.journal import (
    APPLY_STAGED,
    NOTE,
    RESTART,
    RESTORE,
    RESUME,
    RULES,
    STAGE,
    START,
    THAW,
    THAWED,
)
from fsm_risk.adapters.store import Store
from fsm_risk.bootstrap import build_engine
from fsm_risk.config import Settings
from fsm_risk.core import codec
from fsm_risk.core.engine import RiskEngine
from fsm_risk.core.models import Mark
from fsm_risk.core.sessions import SessionCalendar
from fsm_risk.errors import FsmRiskError
from fsm_risk.replay import Entry, Replay, Report
from fsm_risk.rules.base import Rule


def journal_entries(
    store: Store,
    account_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[Entry]:
    """The journal's rows in the order handled, decoded. With ``account_id``: that account's
    rows, and the quotes and instruments of the contracts it traded (or held)."""
    contracts = store.journal_contracts(account_id) if account_id is not None else None
    out = []
    for at, acc, kind, data in store.journal(account_id, since, until, contracts):
        instant = datetime.fromisoformat(at)
        if kind == START:
            acc_id, name = json.loads(data)
            out.append(Entry(instant, int(acc_id), None, str(name)))
        elif kind in _CALLS:
            out.append(Entry(instant, None, None, kind, tuple(json.loads(data))))
        else:
            out.append(Entry(instant, acc, codec.decode(kind, data)))
    return out


_CALLS = frozenset({RESTART, RESTORE, RULES, STAGE, APPLY_STAGED, NOTE, RESUME, THAW, THAWED})


class RecordedSettings:
    """The settings a journal was recorded under, for `fsm_risk.replay.replay_exact`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def engine(self, marks: dict[str, Mark]) -> RiskEngine:
        return build_engine(self.settings, marks=marks)

    def rules(self, engine: RiskEngine, raw: dict[str, dict[str, str]]) -> list[Rule]:
        ctx = RiskEngine.context(engine.settings, engine.instruments, engine.marks)
        return config.with_rules(self.settings, raw).build_rules(ctx)


def own_fills(store: Store, account_id: int) -> tuple[set[int], set[int]]:
    """The trade and order ids of the live service's own enforcement fills."""
    trades, orders = set(), set()
    for f in store.fills(account_id):
        if f.enforcement:
            trades.add(f.trade_id)
            orders.add(f.order_id)
    return trades, orders


# ==========================================================================================
# a replay's plan: which account, which window, which entries
# ==========================================================================================


@dataclass
class Plan:
    account_id: int
    name: str
    start: datetime
    end: datetime
    entries: list[Entry]
    own_trades: set[int] = field(default_factory=set)
    own_orders: set[int] = field(default_factory=set)


def window(cal: SessionCalendar, first: date, last: date | None) -> tuple[datetime, datetime]:
    """The trading days ``first`` .. ``last`` (inclusive) as instants: from the reset that
    opens ``first`` to the reset that closes ``last``."""
    last = last or first
    if last < first:
        raise FsmRiskError(f"--to {last} is before --from {first}")
    # a trading day is named by the local date of the reset that ends it
    start = cal.at(first - timedelta(days=1), cal.daily_reset)
    end = cal.at(last, cal.daily_reset)
    return start, end


def journal_plans(store: Store, account: str | None, start: datetime, end: datetime) -> list[Plan]:
    """One plan per account the journal knows (or the one named), over ``start`` .. ``end``."""
    known = store.journal_accounts()
    if not known:
        raise FsmRiskError(
            f"the journal in {store.path} is empty: `fsm-risk serve` records one "
            "([journal] enabled = true), or replay the gateway's history with --source gateway"
        )
    chosen = known
    if account is not None:
        picked = naming.account_id(account, known, where=" in the journal")
        chosen = [(i, n) for i, n in known if i == picked]
    plans = []
    for account_id, name in chosen:
        entries = journal_entries(store, account_id, start, end)
        trades, orders = own_fills(store, account_id)
        plans.append(Plan(account_id, name, start, end, entries, trades, orders))
    if not any(any(e.account_id == p.account_id for e in p.entries) for p in plans):
        raise FsmRiskError(
            f"the journal holds nothing of account(s) {', '.join(str(p.account_id) for p in plans)}"
            f" between {start:%Y-%m-%d %H:%M} and {end:%Y-%m-%d %H:%M} UTC"
        )
    return plans


def run(
    settings: Settings,
    plan: Plan,
    *,
    curve: bool = False,
    explain_at: datetime | None = None,
) -> Report:
    """Replay one plan under ``settings`` (all its enabled rules, as the service runs them)."""
    engine = build_engine(settings)
    r = Replay(
        engine,
        plan.account_id,
        own_trades=plan.own_trades,
        own_orders=plan.own_orders,
        curve=curve,
        explain_at=explain_at,
        start=plan.start,
    )
    engine.add_account(plan.account_id, plan.name, plan.start)
    for e in plan.entries:
        r.feed(e)
    return r.finish(plan.end)


# ==========================================================================================
# the gateway's history
# ==========================================================================================


def gateway_plans(
    settings: Settings, account: str | None, start: datetime, end: datetime
) -> list[Plan]:
    """Plans from the gateway's own history (see `fsm_risk.adapters.history`)."""
    import asyncio

    return asyncio.run(gateway_plans_async(settings, account, start, end))


async def gateway_plans_async(
    settings: Settings, account: str | None, start: datetime, end: datetime
) -> list[Plan]:
    from fsm_risk import runtime
    from fsm_risk.adapters.broker import ProjectXBroker, RequestBudget, sdk_config
    from fsm_risk.adapters.history import account_history

    creds = runtime.credentials(settings)
    if creds is None:
        raise FsmRiskError(
            "--source gateway needs the broker credentials ([broker] credentials_file, or "
            f"{runtime.USERNAME_ENV} and {runtime.API_KEY_ENV}); the built-in paper gateway "
            "has no history of its own"
        )
    b = settings.broker
    budget = RequestBudget(b.requests_per_minute, 60.0, b.enforcement_reserve)
    broker = ProjectXBroker(
        sdk_config(*runtime.gateway_urls(settings)),
        creds,
        lambda _: None,
        budget=budget,
        login_attempts=5,  # a person waits on it: a gateway in trouble is said, not waited out
    )
    try:
        accounts = await broker.start()
        chosen = accounts
        if account is not None:
            names = [(a.account_id, a.name) for a in accounts]
            picked = naming.account_id(account, names, where=" at the gateway")
            chosen = [a for a in accounts if a.account_id == picked]
        own: dict[int, tuple[set[int], set[int]]] = {}
        if not settings.database_missing:
            store = Store(settings.database)
            try:
                for a in chosen:
                    own[a.account_id] = own_fills(store, a.account_id)
            finally:
                store.close()
        plans = []
        for a in chosen:
            entries = await account_history(broker, a, start, end)
            trades, orders = own.get(a.account_id, (set(), set()))
            plans.append(Plan(a.account_id, a.name, start, end, entries, trades, orders))
        return plans
    except FsmRiskError:
        raise
    except Exception as exc:
        raise FsmRiskError(f"the gateway's history could not be read: {exc}") from None
    finally:
        await broker.stop()
