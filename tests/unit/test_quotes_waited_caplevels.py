"""Found by a review of 3faee57: a capped trailing floor's turns (`core.turns.capped`) kept,
for every new high of a run, the lowest after it (any level could be a holder's cap), so a
rally whose prints bounce between a bid and an ask that drift apart (at the last, the ask
3 ticks up a pair, the bid 1: every dip deeper than the one before, the lows still rising)
was handed on whole: 64 of 64 quotes, 2,000 of 2,000, whoever held the contract, with no
RULE-004 configured at all; a 300-account burst's last stop loss closed 12.8-16.2 s after its
breach. The run is now told where each holder's peak not yet capped reaches its cap
(`core.caps.CapLevels`, as the service asks): a few places for each such holder whose cap the
run reaches, none beside `most` where no holder's can."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D
from typing import Any

from fsm_risk.core.caps import CapLevels
from fsm_risk.core.events import Quote
from fsm_risk.core.pnl import MarkMode
from fsm_risk.core.states import State
from fsm_risk.core.waited import LAST, LIQUIDATION, judged, most, waited
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from fsm_risk.rules.trailing_drawdown import TrailingDrawdown
from tests.factories import MNQ, Driver, account, make_engine, position
from tests.unit.test_quotes_waited_turns import AT, S

TICK = D("0.25")


def _bounce(n: int, entry: D = D(21000)) -> list[Quote]:
    """``n`` prints of MNQ from ``entry``, alternately at the ask (entry + 3k+2 ticks) and the
    bid (entry + k ticks), the book quoted with each."""
    out = []
    for i in range(n):
        k = i // 2
        bid, ask = entry + k * TICK, entry + (3 * k + 2) * TICK
        last = ask if i % 2 == 0 else bid
        out.append(Quote(MNQ, AT + timedelta(milliseconds=i), last, bid, ask))
    return out


def _holders(mode: MarkMode, trailing: dict[str, str] | None, balances: list[str]) -> Driver:
    """Each of ``balances`` an account long 1 MNQ at 21,000 ($2 a point), quoted there; RULE-004
    as ``trailing`` (None: not configured) from a starting balance of 50,000 beside a 5,000
    daily loss limit."""
    rules: dict[type, dict[str, Any]] = {DailyLossLimit: {"limit": "5000"}}
    if trailing is not None:
        rules[TrailingDrawdown] = {"starting_balance": "50000", **trailing}
    d = Driver(make_engine(rules, mark_mode=mode))  # type: ignore[arg-type]
    d.now = AT
    for acc, balance in enumerate(balances, 11):
        d.send(account(balance, acc=acc), position(MNQ, 1, "21000", long=True, acc=acc, at=AT))
    d.send(Quote(MNQ, AT - 10 * S, D(21000), D(21000), D("21000.25")))
    return d


def _handed(d: Driver, quotes: list[Quote], liquidation: bool) -> list[Quote]:
    """The run as the service hands it on to ``d``'s engine."""
    valuation = d.engine.valuation
    caps = CapLevels(valuation, d.engine.book)
    return waited(quotes, d.engine.marks, judged(liquidation), valuation.beside, None, caps)


INTRADAY = {"drawdown": "1000", "mode": "intraday"}
UNREACHABLE = {
    "no RULE-004": None,
    "end of day": {"drawdown": "1000", "mode": "end_of_day"},
    "not frozen": {**INTRADAY, "freeze_at_start": "false"},
}


def test_a_widening_bounce_is_handed_on_as_most_where_no_holder_can_reach_a_cap() -> None:
    """No RULE-004, end of day, not frozen, a peak already at its cap (a balance of 51,500 on
    a cap of 51,000), or a cap the run never reaches (a 40,000 drawdown: 20,000 points up):
    no place beside `most`, however long the run."""
    cases: dict[str, tuple[dict[str, str] | None, str]] = {
        **{name: (trailing, "50000") for name, trailing in UNREACHABLE.items()},
        "capped already": (INTRADAY, "51500"),
        "cap far above": ({"drawdown": "40000", "mode": "intraday"}, "50000"),
    }
    for name, (trailing, balance) in cases.items():
        for n in (64, 256, 2000):
            d = _holders(MarkMode.LAST, trailing, [balance])
            assert len(_handed(d, _bounce(n), False)) <= most(LAST), (name, n)
            d = _holders(MarkMode.LIQUIDATION, trailing, [balance])
            assert len(_handed(d, _bounce(n), True)) <= most(LIQUIDATION), (name, n)


def test_a_widening_bounce_hands_on_a_few_places_for_each_cap_it_reaches() -> None:
    """Three holders whose caps (51,000 from balances 50,000, 50,300 and 50,600: 500, 350
    and 200 points up) the rally reaches: at most eight places each beside `most` (four for
    each new high within a cent's value of the level: here the ask at the level, and the next
    ask), 2,000 quotes or 256 (was every quote); none where the run stops below them."""
    for n, reached in ((64, 0), (256, 0), (1200, 2), (2000, 3)):
        d = _holders(MarkMode.LAST, INTRADAY, ["50000", "50300", "50600"])
        handed = _handed(d, _bounce(n), False)
        assert len(handed) <= most(LAST) + 8 * reached, n


def test_a_holder_whose_cap_a_bounce_reaches_is_judged_as_one_by_one() -> None:
    """The bounce, then up past the cap (21,600: the cap 51,000 at 21,500), a fall to 21,010
    (50,020: the floor frozen at 50,000 not touched) and to 20,999 (49,998: touched): one by
    one it flattens, with the peak at the cap; handed on at the cap levels it must too, in
    both modes."""
    rally = _bounce(2400)
    fall = [
        Quote(MNQ, rally[-1].at + i * S, p, p, p + TICK)
        for i, p in enumerate((D(21600), D(21010), D(21300), D(20999), D(21400)), 1)
    ]
    for mode in (MarkMode.LAST, MarkMode.LIQUIDATION):
        one = _holders(mode, INTRADAY, ["50000"])
        one.send(*rally, *fall)
        assert one.engine.accounts[11].state is State.Flattening
        assert D(one.engine.accounts[11].rule_state["RULE-004"]["peak"]) == 51000
        d = _holders(mode, INTRADAY, ["50000"])
        d.send(*_handed(d, [*rally, *fall], mode is MarkMode.LIQUIDATION))
        assert d.engine.accounts[11].state is State.Flattening, mode
        assert D(d.engine.accounts[11].rule_state["RULE-004"]["peak"]) == 51000, mode
