"""Quotes on trends: the guard band skips only what cannot matter, and a rising peak is cheap.

The property: an engine that uses the quote guard bands (skipping the quote rules while the
open P&L stays inside them, re-asking only the rules a quote reached, and letting the trailing
drawdown raise its peak alone on a new high) gives exactly what an engine that observes and
evaluates every quote rule on every quote gives: the same effects (closes, transitions, audit
entries, alerts), the same account state (rule memory included) and the same accounts to
persist, after every event, on steady trends both ways, random walks and oscillations, with
balance changes, partial closes whose P&L awaits the next balance, and quotes going stale in
between.
"""

from __future__ import annotations

import itertools
import random
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fsm_risk.config import build_rule
from fsm_risk.core.bands import EVALUATE, Bands
from fsm_risk.core.engine import EngineSettings, RiskEngine
from fsm_risk.core.events import (
    AccountUpdate,
    Event,
    Fill,
    PositionType,
    PositionUpdate,
    Quote,
    Side,
)
from fsm_risk.core.models import AccountModel, InstrumentBook, Mark
from fsm_risk.core.sessions import SessionCalendar
from fsm_risk.rules.base import Rule
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from fsm_risk.rules.daily_profit_target import DailyProfitTarget
from fsm_risk.rules.position_stop_loss import PositionStopLoss
from fsm_risk.rules.position_take_profit import PositionTakeProfit
from fsm_risk.rules.trailing_drawdown import TrailingDrawdown
from fsm_risk.rules.weekly_loss_limit import WeeklyLossLimit
from tests.factories import ES, MNQ, T0

TICK = Decimal("0.25")
START = {MNQ: Decimal("21000"), ES: Decimal("6000")}
PATHS = ("up", "down", "walk", "oscillate")


class EveryQuote(Bands):
    """The reference: no guard band, every quote rule observes and evaluates every quote."""

    def account(self, acct: AccountModel) -> tuple[Decimal, Decimal]:
        acct.band = EVALUATE
        return EVALUATE


def build(cls: type[Bands], raw: dict[type[Rule], dict[str, str]]) -> RiskEngine:
    es = EngineSettings(SessionCalendar())
    instruments, marks = InstrumentBook(), dict[str, Mark]()
    ctx = RiskEngine.context(es, instruments, marks)
    engine = RiskEngine(
        es, [build_rule(rule, ctx, values) for rule, values in raw.items()], instruments, marks
    )
    engine.bands.__class__ = cls
    return engine


def path(kind: str, steps: int, size: int, rng: random.Random) -> list[int]:
    """Offsets in ticks from the start price: a steady trend, a walk or an oscillation."""
    if kind == "up":
        return [j * size for j in range(1, steps + 1)]
    if kind == "down":
        return [-j * size for j in range(1, steps + 1)]
    if kind == "oscillate":
        return [(j % 9 - 4) * size for j in range(steps)]
    at, out = 0, []
    for _ in range(steps):
        at += rng.choice((-size, size))
        out.append(at)
    return out


@st.composite
def scenarios(draw: Any) -> tuple[dict[type[Rule], dict[str, str]], list[tuple[Event, int]]]:
    """Rules with limits a path can reach, positions, and a stream of (event, seconds later)."""
    raw: dict[type[Rule], dict[str, str]] = {
        TrailingDrawdown: {
            "drawdown": draw(st.sampled_from(["150", "600", "2500"])),
            "mode": draw(st.sampled_from(["intraday", "intraday", "end_of_day"])),
            "freeze_at_start": draw(st.sampled_from(["true", "false"])),
        },
        DailyLossLimit: {"limit": draw(st.sampled_from(["400", "1500", "100000"]))},
        DailyProfitTarget: {"target": draw(st.sampled_from(["900", "3000", "100000"]))},
        WeeklyLossLimit: {"limit": draw(st.sampled_from(["700", "100000"]))},
        PositionStopLoss: {"limit": draw(st.sampled_from(["300", "100000"]))},
        PositionTakeProfit: {"target": draw(st.sampled_from(["800", "100000"]))},
    }
    rng = random.Random(draw(st.integers(0, 2**32)))
    trades = itertools.count(1)
    held = draw(st.lists(st.sampled_from([MNQ, ES]), min_size=1, max_size=2, unique=True))
    balance = Decimal(draw(st.sampled_from(["50000", "49000.50"])))
    acc = 1001
    events: list[tuple[Event, int]] = [(AccountUpdate(acc, "PRAC", balance, True), 0)]
    moves: dict[str, list[int]] = {}
    sizes: dict[str, tuple[bool, int]] = {}
    steps = draw(st.integers(20, 90))
    for cid in held:
        long = draw(st.booleans())
        size = draw(st.integers(1, 3))
        sizes[cid] = (long, size)
        events.append(
            (
                PositionUpdate(
                    acc,
                    cid,
                    PositionType.LONG if long else PositionType.SHORT,
                    size,
                    START[cid],
                    T0,
                ),
                0,
            )
        )
        moves[cid] = path(draw(st.sampled_from(PATHS)), steps, draw(st.integers(1, 4)), rng)
    gaps = draw(st.lists(st.sampled_from([0, 0, 0, 1, 5, 40]), min_size=steps, max_size=steps))
    for j in range(steps):
        for cid in held:
            if rng.random() < 0.15 and len(held) > 1:
                continue  # this contract's quote is skipped: its mark ages
            px = START[cid] + TICK * moves[cid][j]
            events.append((Quote(cid, T0, px, px - TICK, px + TICK), gaps[j]))
        cid = held[j % len(held)]
        long, size = sizes[cid]
        if size > 1 and rng.random() < 0.06:
            # one contract closed: its P&L is realized, not yet in a balance update
            px = START[cid] + TICK * moves[cid][j]
            pnl = Decimal(rng.choice(["-40.50", "25", "180"]))
            side = Side.SELL if long else Side.BUY
            trade = next(trades)
            events.append((Fill(acc, trade, cid, trade, side, 1, px, pnl, Decimal("0.74"), T0), 0))
            kind = PositionType.LONG if long else PositionType.SHORT
            events.append((PositionUpdate(acc, cid, kind, size - 1, START[cid], T0), 0))
            sizes[cid] = (long, size - 1)
        if rng.random() < 0.05:
            balance += Decimal(rng.choice(["-120.50", "75", "300.25"]))
            events.append((AccountUpdate(acc, "PRAC", balance, True), 0))
    return raw, events


def snapshot(engine: RiskEngine) -> list[Any]:
    return [(a.state, a.to_dict()) for a in engine.accounts.values()]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_bands_give_exactly_what_evaluating_every_quote_gives(
    scenario: tuple[dict[type[Rule], dict[str, str]], list[tuple[Event, int]]],
) -> None:
    raw, events = scenario
    banded, reference = build(Bands, raw), build(EveryQuote, raw)
    now = T0
    for n, (event, later) in enumerate(events):
        now += timedelta(seconds=later)
        if isinstance(event, Quote):
            event = Quote(event.contract_id, now, event.last, event.bid, event.ask)
        got, want = banded.handle(event, now), reference.handle(event, now)
        assert got == want, f"event {n}: {event}"
        assert snapshot(banded) == snapshot(reference), f"event {n}: {event}"
        stored = [a.account_id for a in banded.take_changes().accounts]
        assert stored == [a.account_id for a in reference.take_changes().accounts], n


class Counting:
    """Counts the calls of one rule's band, memory and evaluation methods."""

    def __init__(self, rule: Rule) -> None:
        self.calls: dict[str, int] = {}
        for name in ("quote_band", "position_band", "observe", "evaluate"):
            original = getattr(rule, name)
            setattr(rule, name, self._wrap(name, original))

    def _wrap(self, name: str, original: Any) -> Any:
        def counted(*args: Any) -> Any:
            self.calls[name] = self.calls.get(name, 0) + 1
            return original(*args)

        return counted


def test_a_steady_rise_asks_no_rule_but_the_trailing_drawdown() -> None:
    """Every quote of a steady rise is a new peak: the peak moves, and no other quote rule is
    asked for its band or evaluated (before, every rule ran on every quote)."""
    raw: dict[type[Rule], dict[str, str]] = {
        TrailingDrawdown: {"drawdown": "2000", "mode": "intraday", "freeze_at_start": "false"},
        DailyLossLimit: {"limit": "1000"},
        DailyProfitTarget: {"target": "100000"},
        WeeklyLossLimit: {"limit": "3000"},
        PositionStopLoss: {"limit": "500"},
        PositionTakeProfit: {"target": "100000"},
    }
    engine = build(Bands, raw)
    at: datetime = T0
    engine.handle(AccountUpdate(1001, "PRAC", Decimal("50000"), True), at)
    engine.handle(PositionUpdate(1001, ES, PositionType.LONG, 1, START[ES], at), at)
    engine.handle(Quote(ES, at, START[ES], START[ES], START[ES]), at)
    counters = {rule.id: Counting(rule) for rule in engine.rules if rule.id != "RULE-004"}
    for j in range(1, 201):
        at += timedelta(milliseconds=50)
        px = START[ES] + TICK * j
        engine.handle(Quote(ES, at, px, px, px), at)
    memo = engine.accounts[1001].rule_state["RULE-004"]
    assert Decimal(memo["peak"]) == Decimal("50000") + Decimal("12.50") * 200  # every new high
    assert {rid: c.calls for rid, c in counters.items()} == {rid: {} for rid in counters}


def rise_then(engine: RiskEngine, ticks: list[int]) -> list[tuple[int, list[Any], str]]:
    """An ES long bought at the start price, then one quote per offset (in ticks) 50 ms apart:
    for each quote its index, its effects and the peak the trailing drawdown then holds."""
    at: datetime = T0
    engine.handle(AccountUpdate(1001, "PRAC", Decimal("50000"), True), at)
    engine.handle(PositionUpdate(1001, ES, PositionType.LONG, 1, START[ES], at), at)
    engine.handle(Quote(ES, at, START[ES], START[ES], START[ES]), at)
    out = []
    for j, tick in enumerate(ticks, start=1):
        at += timedelta(milliseconds=50)
        px = START[ES] + TICK * tick
        got = engine.handle(Quote(ES, at, px, px, px), at)
        out.append((j, got, engine.accounts[1001].rule_state["RULE-004"]["peak"]))
    return out


#: the trailing drawdown with the other quote rules far away, but for one
QUIET: dict[type[Rule], dict[str, str]] = {
    TrailingDrawdown: {"drawdown": "2000", "mode": "intraday", "freeze_at_start": "false"},
    DailyLossLimit: {"limit": "100000"},
    DailyProfitTarget: {"target": "100000"},
    WeeklyLossLimit: {"limit": "100000"},
    PositionStopLoss: {"limit": "100000"},
    PositionTakeProfit: {"target": "100000"},
}


def test_a_rise_reaching_the_daily_target_exactly_fires_on_that_quote() -> None:
    """Every quote of the rise is a new peak (only the trailing rule's band crossed, the
    cheap path), until the one that puts the day's P&L exactly at the target: another rule's
    band is crossed with it, and that rule fires on that very quote."""
    raw = {**QUIET, DailyProfitTarget: {"target": "1000"}}  # ES: $12.50 a tick, 80 ticks
    seen = rise_then(build(Bands, raw), list(range(1, 101)))
    fired = [j for j, effects, _ in seen if effects]
    assert fired and fired[0] == 80
    assert [Decimal(peak) for _, _, peak in seen[:79]] == [
        Decimal("50000") + Decimal("12.50") * j for j in range(1, 80)
    ]
    reference = rise_then(build(EveryQuote, raw), list(range(1, 101)))
    assert seen == reference


def test_a_rise_reaching_a_position_target_exactly_fires_on_that_quote() -> None:
    """The same with a position's band: the take profit fires at its exact target."""
    raw = {**QUIET, PositionTakeProfit: {"target": "500"}}  # 40 ticks
    seen = rise_then(build(Bands, raw), list(range(1, 61)))
    assert [j for j, effects, _ in seen if effects][:1] == [40]
    assert seen == rise_then(build(EveryQuote, raw), list(range(1, 61)))


def test_the_trailing_floor_fires_at_its_exact_limit_after_a_rise() -> None:
    """A rise of 200 ticks (a new peak on every quote), then a fall: the trailing drawdown
    fires on the quote where equity touches peak - drawdown exactly (160 ticks down), and on
    no quote before it."""
    ticks = list(range(1, 201)) + list(range(199, 0, -1))
    seen = rise_then(build(Bands, QUIET), ticks)
    assert seen[199][2] == "52500.00"  # the peak at the top: 50000 + 200 x 12.50
    fired = [j for j, effects, _ in seen if effects]
    assert fired[:1] == [200 + 160]  # equity 50500.00 = floor 52500.00 - 2000
    assert seen == rise_then(build(EveryQuote, QUIET), ticks)
