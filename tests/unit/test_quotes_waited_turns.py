"""Found by a review: quotes that waited together were merged into the latest word of each
field alone, so a price the run passed through was never judged: a long 1 MNQ's bid at
-$1,200 (daily limit 1,000), then back, flattened and locked one by one but left the account
Trading merged. A run's quotes of a contract are now handed on at the turns of each field
(lowest, highest, a deepest fall or rise and the high or low before the lowest or highest),
then the latest: a bounded few whatever the run's length (`core.waited`)."""

from __future__ import annotations

import random
from collections.abc import Collection
from datetime import datetime, timedelta
from decimal import Decimal as D

import pytest

from fsm_risk.core.events import Quote, Tick
from fsm_risk.core.pnl import MarkMode
from fsm_risk.core.states import State
from fsm_risk.core.waited import (
    EVERY,
    LAST,
    LIQUIDATION,
    Caps,
    Fields,
    HeldLevels,
    Levels,
    judged,
    most,
    waited,
)
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from fsm_risk.rules.daily_profit_target import DailyProfitTarget
from fsm_risk.rules.trailing_drawdown import TrailingDrawdown
from tests.factories import ES, MNQ, T0, Driver, account, make_engine, position
from tests.unit.test_quotes_waited_together import _driven, _left, apart

S = timedelta(seconds=1)
AT = T0 + timedelta(minutes=1)


def test_a_dip_through_the_daily_limit_that_recovers_in_one_batch_flattens() -> None:
    """Long 1 MNQ at 21,000 (liquidation: valued on the bid), daily loss limit 1,000: the bid
    at 20,400 (-1,200) then back at 20,990. One by one the touch flattens; waited together it
    does the same, the marks and the open P&L left are the same."""
    quotes: list[Quote | Tick] = [
        Quote(MNQ, AT + S, bid=D("20400")),  # -1,200: touches the limit
        Quote(MNQ, AT + 2 * S, bid=D("20990")),  # back
    ]
    one_by_one = _left(_driven(AT), quotes)
    assert one_by_one[1:] == (D("-20"), State.Flattening)
    d = _driven(AT)
    assert _left(d, waited(quotes, d.engine.marks)) == one_by_one
    d = _driven(AT)
    assert _left(d, waited(quotes, d.engine.marks, judged(True))) == one_by_one


def _trailed(mode: MarkMode, size: int, freeze: bool = True) -> Driver:
    """``size`` MNQ (negative: short) at 21,000, $2 a point each, quoted there; a 1,000 intraday
    trailing drawdown from 50,000 (``freeze``: the peak capped at 51,000), a 1,500 daily loss
    limit and a 1,800 daily profit target."""
    trailing = {"drawdown": "1000", "starting_balance": "50000", "mode": "intraday"}
    if not freeze:
        trailing["freeze_at_start"] = "false"
    rules = {
        TrailingDrawdown: trailing,
        DailyLossLimit: {"limit": "1500"},
        DailyProfitTarget: {"target": "1800"},
    }
    d = Driver(make_engine(rules, mark_mode=mode))  # type: ignore[arg-type]
    d.now = AT
    d.send(account(), position(MNQ, abs(size), "21000", long=size > 0, at=AT))
    d.send(Quote(MNQ, AT - 10 * S, D(21000), D(21000), D("21000.25")))
    return d


def _verdict(d: Driver, quotes: list[Quote]) -> tuple[object, ...]:
    for q in quotes:
        d.send(q)
    marks = {c: (m.last, m.bid, m.ask, m.at) for c, m in d.engine.marks.items()}
    return d.acct.state, d.acct.rule_state["RULE-004"]["peak"], d.acct.open_upnl, marks


def _prices(name: str, prices: list[str]) -> list[Quote]:
    return [
        Quote(MNQ, AT + i * S, **{name: D(p)})  # type: ignore[arg-type]
        for i, p in enumerate(prices, 1)
    ]


@pytest.mark.parametrize(
    ("mode", "size", "name", "prices"),
    [
        # a long on the bid: +800 raises the peak to 50,800, -300 touches its floor, back
        (MarkMode.LIQUIDATION, 1, "bid", ["20800", "21400", "20850", "21000"]),
        # a short on the last: the same, mirrored
        (MarkMode.LAST, -1, "last", ["21200", "20600", "21150", "21000"]),
    ],
)
def test_a_peak_raised_and_its_floor_touched_within_one_batch_flattens(
    mode: MarkMode, size: int, name: str, prices: list[str]
) -> None:
    """The lowest (-400) and the highest alone touch no floor: the deepest fall does."""
    quotes = _prices(name, prices)
    one_by_one = _verdict(_trailed(mode, size), quotes)
    assert one_by_one[:2] == (State.Flattening, "50800")
    d = _trailed(mode, size)
    assert _verdict(d, waited(quotes, d.engine.marks, judged(mode is MarkMode.LIQUIDATION))) == (
        one_by_one
    )


def test_a_floor_touched_at_the_lowest_from_a_peak_below_the_cap_flattens() -> None:
    """Long 1 MNQ, the peak capped at 51,000: the bid's deepest fall (21,900 to 21,300, -1,200)
    begins above the cap and touches no floor (51,000 less 1,000); the fall to the lowest,
    20,650, from 21,150 (a peak of 50,300) does, judged with the high before it."""
    quotes = _prices("bid", ["21150", "20650", "21900", "21300", "21500"])
    one_by_one = _verdict(_trailed(MarkMode.LIQUIDATION, 1), quotes)
    assert one_by_one[:2] == (State.Flattening, "51000")
    d = _trailed(MarkMode.LIQUIDATION, 1)
    assert _verdict(d, waited(quotes, d.engine.marks, LIQUIDATION)) == one_by_one


def _walk(r: random.Random, contract: str, n: int, start: datetime) -> list[Quote]:
    """``n`` partial quotes of a random walk from 21,000, stamped in order."""
    p, at, out = D(21000), start, []
    for _ in range(n):
        p += r.choice((-1, 1)) * D(r.choice((25, 50, 100, 150)))
        at += timedelta(milliseconds=r.choice((0, 1, 5)))
        names = r.sample(("last", "bid", "ask"), r.randint(1, 3))
        spread = {"last": D(0), "bid": D("-0.25"), "ask": D("0.25")}
        out.append(Quote(contract, at, **{k: p + spread[k] for k in names}))  # type: ignore[arg-type]
    return out


def test_a_batch_of_one_contract_is_judged_as_one_by_one() -> None:
    """Seeded random walks of 1 to 250 partial quotes in one batch, long or short, at either
    mark mode, against a daily loss limit, a profit target and an uncapped intraday trailing
    drawdown: the state, the peak, the open P&L and the mark left are those one by one left
    (a good share of the walks flatten)."""
    flattened = 0
    for seed in range(100):
        r = random.Random(seed)
        mode = r.choice((MarkMode.LIQUIDATION, MarkMode.LAST))
        size = r.choice((1, -1, 2, -2))
        quotes = _walk(r, MNQ, r.randint(1, 250), AT)
        one_by_one = _verdict(_trailed(mode, size, freeze=False), quotes)
        flattened += one_by_one[0] is not State.Trading
        for fields in (judged(mode is MarkMode.LIQUIDATION), EVERY):
            d = _trailed(mode, size, freeze=False)
            assert _verdict(d, waited(quotes, d.engine.marks, fields)) == one_by_one, seed
    assert flattened > 50


class _Levels:
    """Cap levels as given, the same for every contract and field (a `Capping`)."""

    def __init__(self, longs: Levels, shorts: Levels) -> None:
        self.caps: Caps = (longs, shorts)

    def of(self, contract_id: str, field: str) -> Caps:
        return self.caps

    def held(self, contracts: Collection[str], liquidation: bool) -> HeldLevels:
        return lambda holding: self.caps[0] if self.caps is not None else ()


def _near(level: int) -> tuple[D, D]:
    return (D(level) - D("0.005"), D(level) + D("0.005"))


@pytest.mark.parametrize("fields", [LAST, LIQUIDATION, EVERY])
def test_a_batch_hands_on_a_bounded_few_quotes_per_contract(fields: Fields) -> None:
    """Found by a review of 3faee57 (this test's bound had become the count it bounds): however
    long the run, at most `most` quotes of each contract are handed on (9 at the last, 11 at
    liquidation value, 19 for every field) where no holder's peak can reach a cap, and at most
    eight more for each cap level a field's words reach (`capped`: a longs' and a shorts' level
    a field here, both within the walks' range), the last of them every field's latest word at
    the latest stamp."""
    assert (most(LAST), most(LIQUIDATION), most(EVERY)) == (9, 11, 19)
    r = random.Random(7)
    for n, times in ((256, 4), (10_000, 1)):
        for _ in range(times):
            mnq, es = _walk(r, MNQ, n, AT), _walk(r, ES, n, AT)
            batch = [q for pair in zip(mnq, es, strict=True) for q in pair]
            for caps, extra in (
                (_Levels((), ()), 0),
                (_Levels((_near(21100),), (_near(20900),)), 8 * 2 * len(fields)),
            ):
                out = waited(batch, {}, fields, apart, None, caps)
                for cid, quotes in ((MNQ, mnq), (ES, es)):
                    handed = [q for q in out if q.contract_id == cid]
                    assert 1 <= len(handed) <= most(fields) + extra, (n, extra)
                    latest = handed[-1]
                    assert latest.at == quotes[-1].at
                    for name in ("last", "bid", "ask"):
                        words = [getattr(q, name) for q in quotes if getattr(q, name) is not None]
                        assert getattr(latest, name) == words[-1]
    rising = [Quote(MNQ, AT + i * S, D(21000 + i)) for i in range(256)]  # prints only
    # the lowest print, then the latest; at liquidation value no print values a holder
    expected = [rising[-1]] if fields is LIQUIDATION else [rising[0], rising[-1]]
    assert waited(rising, {}, fields) == expected
