"""Found by a review of 1b9eb12/866decf: past `TOGETHER` quotes of contracts held together in
one run, every stride-th was judged with its own contract's latest word beside the other legs'
older marks (a calendar spread that never lost a cent flattened at -$1,100), and a holding's
combined extremes, a turn of neither leg, were never judged (a -$1,100 daily loss on a $1,000
limit missed, a trailing peak kept $400 low, a spread's profit target missed). Every state a
strided run is judged at must be one the quotes one by one left, all legs together, and each
holding's combined lowest, highest, deepest fall and rise must be among them."""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import replace
from decimal import Decimal as D

import pytest

from fsm_risk.core import codec
from fsm_risk.core.effects import ClosePosition
from fsm_risk.core.events import Quote
from fsm_risk.core.pnl import MarkMode
from fsm_risk.core.states import State
from fsm_risk.core.waited import TOGETHER, judged
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from fsm_risk.rules.daily_profit_target import DailyProfitTarget
from fsm_risk.rules.position_stop_loss import PositionStopLoss
from fsm_risk.rules.position_take_profit import PositionTakeProfit
from fsm_risk.rules.trailing_drawdown import TrailingDrawdown
from fsm_risk.rules.weekly_loss_limit import WeeklyLossLimit
from tests.factories import ES, MNQ, MNQ_H27, Driver, account, make_engine, position
from tests.unit.test_quotes_waited_shared import (
    _BASE,
    AT,
    MS,
    S,
    _accounts,
    _engine,
    _left,
    _run,
    _spread,
    _two,
    _waited,
    _walks,
)


@pytest.mark.parametrize(
    ("rounds", "step"), [(60, 1), (16, 4)], ids=["120q_stride8", "32q_stride2"]
)
def test_a_calendar_spread_in_a_steady_fall_quoted_short_leg_first_is_not_flattened(
    rounds: int, step: int
) -> None:
    """The spread of test_quotes_waited_shared (long 10 MNQ Z26, short 10 H27, $20 a point a
    side, a 1,000 daily loss limit at the last), its two months quoted in the other order (H27
    then Z26 each round), both falling ``step`` points a quote: the spread never moves and one
    by one the account never loses a cent. The quotes alternate and the stride is even (8 for
    120 quotes, 2 for a backlog of 32): every stride-th quote is Z26's, so H27 is judged only
    at its turns (its first and its latest in a steady fall) and Z26 is judged falling beside
    H27's first mark of the run: -$1,100 (-$1,120 for 32), flattened and locked for the day."""
    quotes = []
    for i in range(1, rounds + 1):
        quotes.append(Quote(MNQ_H27, AT + (2 * i) * 25 * MS, last=D(21150 - step * i)))
        quotes.append(Quote(MNQ, AT + (2 * i + 1) * 25 * MS, last=D(21000 - step * i)))
    one_by_one = _run(_spread(), quotes)
    assert one_by_one == (State.Trading, D("0"), D("0"))
    d = _spread()
    state, worst, end = _run(d, _waited(d, quotes, judged(False)))
    assert state is State.Trading and worst >= D("-100"), (state, worst, end)


def _rounds(n: int, mnq: dict[int, str], es: dict[int, str]) -> list[Quote]:
    """n rounds of MNQ then ES bids, 1 ms apart: MNQ at 21,000 and ES at 6,000 but for the
    rounds given."""
    quotes: list[Quote] = []
    for i in range(n):
        quotes.append(Quote(MNQ, AT + (2 * i + 1) * MS, bid=D(mnq.get(i, "21000"))))
        quotes.append(Quote(ES, AT + (2 * i + 2) * MS, bid=D(es.get(i, "6000"))))
    return quotes


def test_two_legs_dipping_together_at_no_turn_of_either_breach_as_one_by_one() -> None:
    """Long 1 MNQ, long 1 ES, a 1,000 daily loss limit at liquidation value; 40 quotes held
    together (a stride of 3). MNQ's bid dips -$700 alone at round 2 (its lowest), ES's -$700
    alone at round 15 (its lowest); at round 3 both are -$550 for one quote each (-$1,100 on
    the account). One by one the account flattens at -1,100; each leg's -550 is no turn of it
    and neither falls on a stride, so the run judges each leg's -550 beside the other's 0."""
    quotes = _rounds(20, mnq={2: "20650", 3: "20725"}, es={3: "5989", 15: "5986"})
    one_by_one = _run(_two(MarkMode.LIQUIDATION, True), quotes)
    assert one_by_one[0] is State.Flattening and one_by_one[1] == D("-1100"), one_by_one
    d = _two(MarkMode.LIQUIDATION, True)
    assert _run(d, _waited(d, quotes, judged(True))) == one_by_one


def _held(mode: MarkMode, es_long: bool, rules: dict[type, dict[str, str]]) -> Driver:
    """As `_two` (long 1 MNQ at 21,000, 1 ES at 6,000 long or short, quoted there) under
    ``rules``."""
    d = Driver(make_engine(rules, mark_mode=mode))  # type: ignore[arg-type]
    d.now = AT
    d.send(
        account(),
        position(MNQ, 1, "21000", at=AT),
        position(ES, 1, "6000", long=es_long, at=AT),
    )
    d.send(Quote(MNQ, AT - 10 * S, D(21000), D(21000), D(21000)))
    d.send(Quote(ES, AT - 10 * S, D(6000), D(6000), D(6000)))
    return d


def _lasts(n: int, mnq: dict[int, str], es: dict[int, str]) -> list[Quote]:
    """As `_rounds`, of the last price."""
    return [Quote(q.contract_id, q.at, last=q.bid) for q in _rounds(n, mnq, es)]


def test_a_spread_touching_its_profit_target_at_no_turn_of_either_leg_is_judged() -> None:
    """Long 1 MNQ, short 1 ES at the last, a 1,000 daily profit target; 40 quotes held together
    (a stride of 3). MNQ rises +$700 alone at round 2 (its highest), ES falls +$700 alone at
    round 15 (its lowest); at round 3 both legs are +$550 for one quote each (+$1,100: the
    target touched one by one). The run judges each leg's +550 beside the other's 0."""
    target = {DailyProfitTarget: {"target": "1000"}}
    quotes = _lasts(20, mnq={2: "21350", 3: "21275"}, es={3: "5989", 15: "5986"})
    d = _held(MarkMode.LAST, False, target)
    for q in quotes:
        d.send(q)
    one_by_one = d.acct.state
    assert one_by_one is not State.Trading, one_by_one
    d = _held(MarkMode.LAST, False, target)
    for q in _waited(d, quotes, judged(False)):
        d.send(q)
    assert d.acct.state is one_by_one


def test_an_intraday_trailing_peak_of_two_legs_at_no_turn_of_either_is_trailed() -> None:
    """Long 1 MNQ, long 1 ES at liquidation value, a 1,000 intraday trailing drawdown from
    50,000 (uncapped); 40 quotes held together (a stride of 3). MNQ's bid +$700 alone at round
    2, ES's +$700 alone at round 15; at round 3 both +$550 for one quote each: one by one the
    peak is 51,100 and the floor 50,100, so the last rounds at +$25 each (50,050) flatten. The
    run never sees the peak: 50,700 at most, a floor of 49,700, never touched."""
    trailing = {"drawdown": "1000", "starting_balance": "50000", "mode": "intraday"}
    trailing["freeze_at_start"] = "false"
    rules = {TrailingDrawdown: trailing}
    quotes = _rounds(
        20,
        mnq={2: "21350", 3: "21275", 18: "21012.5", 19: "21012.5"},
        es={3: "6011", 15: "6014", 18: "6000.5", 19: "6000.5"},
    )
    d = _held(MarkMode.LIQUIDATION, True, rules)
    for q in quotes:
        d.send(q)
    one_by_one = d.acct.state, D(d.acct.rule_state["RULE-004"]["peak"])
    assert one_by_one[0] is not State.Trading and one_by_one[1] == D("51100"), one_by_one
    d = _held(MarkMode.LIQUIDATION, True, rules)
    for q in _waited(d, quotes, judged(True)):
        d.send(q)
    assert (d.acct.state, D(d.acct.rule_state["RULE-004"]["peak"])) == one_by_one


def test_no_account_is_flattened_past_together_that_one_by_one_never_is() -> None:
    """The seeded random batches of test_quotes_waited_shared (2 or 3 contracts, four accounts,
    one holding every contract, one two, two one each, a daily loss limit and an intraday
    trailing drawdown) with more quotes than `TOGETHER` (17 to 200: strided), at random
    interleavings, not only alternating. An account one by one left Trading is left Trading
    (30 of the 400 accounts holding two or three contracts were flattened and locked on a mark
    one by one never had; none of those holding one)."""
    false = []
    for seed in range(200):
        r = random.Random(seed)
        contracts = r.sample([MNQ, MNQ_H27, ES], r.choice((2, 3)))
        mode = r.choice((MarkMode.LIQUIDATION, MarkMode.LAST))
        held = _accounts(r, contracts)
        quotes = _walks(r, contracts, r.randint(TOGETHER + 1, 200))
        one_by_one = _left(_engine(mode, held, contracts), quotes)
        d = _engine(mode, held, contracts)
        strided = _left(d, _waited(d, quotes, judged(mode is MarkMode.LIQUIDATION)))
        false += [
            (seed, acc)
            for acc, (a, b) in enumerate(zip(one_by_one, strided, strict=True), 1)
            if a[0] is State.Trading and b[0] is not State.Trading
        ]
    assert false == [], f"{len(false)} accounts flattened that one by one were not: {false}"


def _every_rule(mode: MarkMode, held: list[dict[str, int]], contracts: Sequence[str]) -> Driver:
    """As `_engine`, under a daily loss limit, a daily profit target, a weekly loss limit, an
    uncapped intraday trailing drawdown, a position stop loss and a position take profit."""
    trailing = {"drawdown": "1500", "starting_balance": "50000", "mode": "intraday"}
    trailing["freeze_at_start"] = "false"
    rules = {
        DailyLossLimit: {"limit": "1000"},
        DailyProfitTarget: {"target": "1400"},
        WeeklyLossLimit: {"limit": "1200"},
        TrailingDrawdown: trailing,
        PositionStopLoss: {"limit": "700"},
        PositionTakeProfit: {"target": "800"},
    }
    d = Driver(make_engine(rules, mark_mode=mode))  # type: ignore[arg-type]
    d.now = AT
    for acc, sizes in enumerate(held, 1):
        d.send(account(acc=acc))
        for c, n in sizes.items():
            d.send(position(c, abs(n), str(_BASE[c][0]), long=n > 0, acc=acc, at=AT))
    for c in contracts:
        p = _BASE[c][0]
        d.send(Quote(c, AT - 10 * S, p, p - D("0.25"), p + D("0.25")))
    return d


def _ended(d: Driver, quotes: Iterable[Quote]) -> tuple[object, ...]:
    """Each account's state and peak, and every position closed (account, contract)."""
    for q in quotes:
        d.send(q)
    closes = {(e.account_id, e.contract_id) for e in d.effects if isinstance(e, ClosePosition)}
    left = [
        (a.state, D(a.rule_state.get("RULE-004", {}).get("peak", "NaN")).normalize())
        for _, a in sorted(d.engine.accounts.items())
    ]
    return str(left), sorted(closes)


def test_a_strided_run_is_judged_as_one_by_one_whichever_leg_is_quoted_first() -> None:
    """Seeded random batches of 2 or 3 contracts held together, 17 to 256 partial quotes (past
    `TOGETHER`: strided), each batch also with its contracts' roles swapped (the leg quoted
    first the other), at either mark mode, four accounts holding every contract, two, one and
    one, under a daily loss limit, profit target, weekly loss limit, trailing drawdown and a
    position stop loss and take profit: every account ends in the state (a lock's kind) and with
    the peak one by one left and the same positions are closed: none falsely, none missed. (The
    rule named on a close may differ: breaches one by one met one after another, a daily loss
    then a weekly, may be judged together at the run's lowest.) A long run hands on fewer
    quotes than it had."""
    fired = fewer = 0
    for seed in range(120):
        r = random.Random(seed)
        contracts = r.sample([MNQ, MNQ_H27, ES], r.choice((2, 3)))
        mode = r.choice((MarkMode.LIQUIDATION, MarkMode.LAST))
        held = _accounts(r, contracts)
        quotes = _walks(r, contracts, r.randint(TOGETHER + 1, 256))
        swap = dict(zip(contracts, reversed(contracts), strict=True))
        for batch in (quotes, [replace(q, contract_id=swap[q.contract_id]) for q in quotes]):
            one_by_one = _ended(_every_rule(mode, held, contracts), batch)
            fired += len(one_by_one[1])
            d = _every_rule(mode, held, contracts)
            handed = _waited(d, batch, judged(mode is MarkMode.LIQUIDATION))
            fewer += len(handed) < len(batch) / 2
            assert _ended(d, handed) == one_by_one, seed
    assert fired > 100 and fewer > 60, (fired, fewer)


def test_a_strided_run_journaled_and_read_back_is_judged_as_one_by_one() -> None:
    """A strided run's quotes carry the other contracts' words as legs: the journal keeps them
    (a replay judges what the service judged), so the spread quoted short leg first, read back
    from its journal form, ends Trading at $0 as one by one, never below $0, and a quote with
    no legs is journaled as before."""
    quotes = []
    for i in range(1, 61):
        quotes.append(Quote(MNQ_H27, AT + (2 * i) * 25 * MS, last=D(21150 - i)))
        quotes.append(Quote(MNQ, AT + (2 * i + 1) * 25 * MS, last=D(21000 - i)))
    d = _spread()
    handed = _waited(d, quotes, judged(False))
    assert any(q.legs for q in handed) and len(handed) < len(quotes) / 2
    read_back = [codec.decode(*codec.encode(q)) for q in handed]
    assert read_back == handed
    assert _run(d, read_back) == (State.Trading, D("0"), D("0"))
    assert codec.encode(Quote(MNQ, AT, last=D(1)))[1] == f'["{MNQ}","{AT.isoformat()}","1"]'
