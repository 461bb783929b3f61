"""The quote guard bands never change an outcome.

A quote rule promises the open-P&L interval inside which a quote can neither make it fire nor
change its memory, and the engine skips it there. The same random price paths (steady trends,
random walks, oscillations, with realized P&L behind them) go through two engines with the same
rules: one with the bands, one that promises nothing and so evaluates every quote rule on every
quote. Their effects (closes, alerts, audited transitions), states and memories must be
identical after every event.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fsm_risk.core.bands import EVALUATE, Bands
from fsm_risk.core.effects import ClosePosition, Effect
from fsm_risk.core.engine import RiskEngine
from fsm_risk.core.events import Event, Side
from fsm_risk.core.models import AccountModel, Position
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from fsm_risk.rules.daily_profit_target import DailyProfitTarget
from fsm_risk.rules.position_stop_loss import PositionStopLoss
from fsm_risk.rules.position_take_profit import PositionTakeProfit
from fsm_risk.rules.trailing_drawdown import TrailingDrawdown
from fsm_risk.rules.weekly_loss_limit import WeeklyLossLimit
from tests.factories import ES, MNQ, T0, account, fill, flat, make_engine, position, quote

TICK = Decimal("0.25")
START = {MNQ: Decimal("21000"), ES: Decimal("6000")}
POINT = {MNQ: Decimal(2), ES: Decimal(50)}  # dollars per point


class EveryQuote(Bands):
    """The reference: no rule's band is asked, so every quote rule sees every quote."""

    def account(self, acct: AccountModel) -> tuple[Decimal, Decimal]:
        return EVALUATE

    def position(self, acct: AccountModel, pos: Position) -> tuple[Decimal, Decimal]:
        return EVALUATE


def engines(raw: dict[Any, dict[str, str]]) -> tuple[RiskEngine, RiskEngine]:
    banded = make_engine(raw)
    reference = make_engine(raw)
    reference.bands.__class__ = EveryQuote
    return banded, reference


@st.composite
def rule_settings(draw: st.DrawFn) -> dict[Any, dict[str, str]]:
    basis = draw(st.sampled_from(["equity", "realized"]))
    chosen: dict[Any, dict[str, str]] = {}
    if draw(st.booleans()):
        chosen[DailyLossLimit] = {"limit": str(draw(st.integers(100, 1500))), "basis": basis}
    if draw(st.booleans()):
        chosen[DailyProfitTarget] = {"target": str(draw(st.integers(100, 1500))), "basis": basis}
    if draw(st.booleans()):
        chosen[WeeklyLossLimit] = {"limit": str(draw(st.integers(100, 2500))), "basis": basis}
    if draw(st.booleans()):
        chosen[TrailingDrawdown] = {
            "drawdown": str(draw(st.integers(100, 1500))),
            "mode": draw(st.sampled_from(["intraday", "end_of_day"])),
        }
    if draw(st.booleans()):
        chosen[PositionStopLoss] = {"limit": str(draw(st.integers(25, 800)))}
    if draw(st.booleans()):
        chosen[PositionTakeProfit] = {"target": str(draw(st.integers(25, 800)))}
    if not chosen:
        chosen[DailyLossLimit] = {"limit": "500"}
    return chosen


@st.composite
def price_path(draw: st.DrawFn) -> list[int]:
    """Moves in ticks: a steady trend, a random walk or an oscillation."""
    n = draw(st.integers(5, 120))
    kind = draw(st.sampled_from(["trend", "walk", "oscillation"]))
    if kind == "trend":
        step = draw(st.integers(-6, 6).filter(bool))
        return [step] * n
    if kind == "walk":
        return draw(st.lists(st.integers(-8, 8), min_size=n, max_size=n))
    amplitude = draw(st.integers(1, 40))
    period = draw(st.integers(2, 12))
    drift = draw(st.integers(-2, 2))
    return [(amplitude if (i // period) % 2 == 0 else -amplitude) + drift for i in range(n)]


@st.composite
def scenario(draw: st.DrawFn) -> list[Event]:
    contracts = draw(st.sampled_from([[MNQ], [ES], [MNQ, ES]]))
    events: list[Event] = [account("50000")]
    now = T0
    # some realized P&L behind the day: a closed round trip
    realized = draw(st.integers(-600, 600))
    if realized:
        events += [
            fill(MNQ, Side.BUY, 1, "21000", at=now),
            fill(MNQ, Side.SELL, 1, "21000", pnl=str(realized), at=now),
            flat(MNQ, at=now),
        ]
    price = dict(START)
    held = []
    for c in contracts:
        size = draw(st.integers(1, 3))
        long = draw(st.booleans())
        held.append((c, size, long))
        events += [quote(c, str(price[c]), at=now), position(c, size, str(price[c]), long=long)]
    sizes = {c: (size if long else -size) for c, size, long in held}
    avg = {c: price[c] for c in contracts}
    balance = Decimal(50_000)
    paths = {c: draw(price_path()) for c in contracts}
    longest = max(len(p) for p in paths.values())
    # other events between the quotes: the trader adds or takes off a contract, the
    # balance moves; each makes the engine ask the rules for their bands again
    others = dict(
        draw(
            st.lists(
                st.tuples(st.integers(0, longest - 1), st.sampled_from(["add", "exit", "cash"])),
                max_size=5,
            )
        )
    )
    for i in range(longest):
        for c in contracts:
            if i < len(paths[c]):
                now += timedelta(seconds=1)
                price[c] += paths[c][i] * TICK
                events.append(quote(c, str(price[c]), at=now))
        what = others.get(i)
        c = contracts[i % len(contracts)]
        signed = sizes[c]
        if what == "add" and signed:
            side = Side.BUY if signed > 0 else Side.SELL
            step = 1 if signed > 0 else -1
            avg[c] = (avg[c] * abs(signed) + price[c]) / (abs(signed) + 1)
            sizes[c] = signed + step
            events += [
                fill(c, side, 1, str(price[c]), at=now),
                position(c, abs(sizes[c]), str(avg[c]), long=signed > 0, at=now),
            ]
        elif what == "exit" and signed:
            side = Side.SELL if signed > 0 else Side.BUY
            pnl = (price[c] - avg[c]) * POINT[c] * (1 if signed > 0 else -1)
            sizes[c] = signed - (1 if signed > 0 else -1)
            events.append(fill(c, side, 1, str(price[c]), pnl=str(pnl), at=now))
            if sizes[c]:
                events.append(position(c, abs(sizes[c]), str(avg[c]), long=signed > 0, at=now))
            else:
                events.append(flat(c, at=now))
        elif what == "cash":
            balance += draw(st.integers(-300, 300))
            events.append(account(str(balance)))
    return events


def answered(engine: RiskEngine, event: Event) -> tuple[list[Effect], list[Effect]]:
    """Handle an event, then let the broker confirm every close it asked for."""
    out = engine.handle(event, event_time(event))
    more: list[Effect] = []
    for e in out:
        if isinstance(e, ClosePosition):
            more += engine.handle(flat(e.contract_id, at=event_time(event)), event_time(event))
    return out, more


def event_time(event: Event) -> Any:
    return getattr(event, "at", None) or T0


def memory(engine: RiskEngine) -> list[Any]:
    return [
        (a.state, a.to_dict(), {c: m.to_dict() for c, m in a.contracts.items()})
        for a in engine.accounts.values()
    ]


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(raw=rule_settings(), events=scenario())
def test_bands_never_change_an_outcome(raw: dict[Any, dict[str, str]], events: list[Event]) -> None:
    banded, reference = engines(raw)
    for n, event in enumerate(events):
        got, expected = answered(banded, event), answered(reference, event)
        assert got == expected, f"event {n}: {event}"
        assert memory(banded) == memory(reference), f"event {n}: {event}"


def test_the_reference_really_evaluates_every_quote() -> None:
    """The banded engine skips quote rules that the reference evaluates (so the comparison
    above compares two different paths through the engine)."""
    calls = {"banded": 0, "reference": 0}
    banded, reference = engines({DailyLossLimit: {"limit": "1000"}})
    for name, engine in (("banded", banded), ("reference", reference)):
        rule = engine.rules[0]
        original = rule.evaluate

        def counting(*args: Any, _name: str = name, _orig: Any = original) -> Any:
            calls[_name] += 1
            return _orig(*args)

        rule.evaluate = counting  # type: ignore[method-assign]
        engine.handle(account(), T0)
        engine.handle(quote(MNQ, "21000"), T0)
        engine.handle(position(MNQ, 1, "21000"), T0)
        calls[name] = 0
        for i in range(1, 21):
            engine.handle(quote(MNQ, str(21000 - i), at=T0 + timedelta(seconds=i)), T0)
    assert calls == {"banded": 0, "reference": 20}
