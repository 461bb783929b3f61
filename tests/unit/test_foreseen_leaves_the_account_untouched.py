"""A guard written by a review of f0ee92d (it holds on both sides): `core.foreseen` puts the
estimate in force for its question alone: the whole engine (every account, the rules' memories
and caches, timers, audit, work) pickles the same before and after, with RULE-003, RULE-004
(intraday, a void-awaiting peak memo) and the weekly loss limit; asked in every phase (queued,
failed-read grace, past LATE, after a fall through RULE-004's floor)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from fsm_risk.core.events import Listing, Side, Tick
from fsm_risk.core.foreseen import foreseen
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from fsm_risk.rules.trailing_drawdown import TrailingDrawdown
from fsm_risk.rules.weekly_loss_limit import WeeklyLossLimit
from tests.factories import ACC, MNQ, T0, Driver, account, fill, make_engine, position, quote

EARLIER = T0 - timedelta(minutes=10)
BOUGHT = fill(MNQ, Side.BUY, 2, "21000", order_id=1, trade_id=101, at=EARLIER)


def frozen(d: Driver) -> str:
    """Every account's every field and every rule's every field, nested, as text."""
    accts = {
        a: sorted((k, repr(v)) for k, v in vars(m).items()) for a, m in d.engine.accounts.items()
    }
    rules = [sorted((k, repr(v)) for k, v in vars(r).items()) for r in d.engine.book.rules]
    engine = sorted((k, repr(v)) for k, v in vars(d.engine).items() if k != "accounts")
    return repr((accts, rules, engine))


def test_asking_changes_nothing_anywhere() -> None:
    d = Driver(
        make_engine(
            {
                DailyLossLimit: {"limit": "500"},
                WeeklyLossLimit: {"limit": "3000"},
                TrailingDrawdown: {
                    "drawdown": "1000",
                    "mode": "intraday",
                    "starting_balance": "50000",
                    "freeze_at_start": "false",
                },
            }
        )
    )
    d.send(account("50000"), BOUGHT, position(MNQ, 2, "21000"), quote(MNQ, "21000"))
    held = frozenset({MNQ})
    d.send(
        Listing(
            ACC,
            held,
            frozenset(),
            held,
            frozenset(),
            frozenset({101}),
            behind=True,
            listed=Decimal("48800.00"),
        ),
        position(MNQ, 2, "21000"),
        quote(MNQ, "21000"),
    )
    rules = d.engine.book.rules
    answers = []
    for step in ("queued", "failed", "grace", "late", "fall"):
        if step == "failed":
            d.send(Tick(ACC, unread=True))
        elif step == "grace":
            d.now += timedelta(seconds=3)
            d.send(quote(MNQ, "21000", at=d.now))
        elif step == "late":
            d.now += timedelta(seconds=400)
        elif step == "fall":
            d.send(quote(MNQ, "20900", at=d.now))
        before = frozen(d)
        answers.append((step, foreseen(d.acct, rules, d.now), d.acct.state.name))
        assert frozen(d) == before, f"foreseen changed the engine at {step}"
