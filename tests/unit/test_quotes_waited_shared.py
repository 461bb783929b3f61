"""Found by a review of 5c3e4d8: a run's quotes of each contract were handed on together in
the place of the contract's first, so an account holding two contracts quoted in one run was
judged at marks that never were one by one (one contract's turn beside the other's mark from
before the run) and missed those that were: a calendar spread (long 10 MNQ Z26, short 10 H27)
in a steady fall was flattened at -$1,200 (one by one never below -$20), a hedge (long MNQ,
short ES) never below 0 was flattened, and two contracts dipping together (-$1,200 on a
$1,000 limit) were missed. A contract of the run one of whose holders holds another of the
run's contracts is now handed on one by one, in its place (`core.waited.shared`); the others
merge at their turns as before, and who holds what is asked when the run's turn comes."""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from datetime import timedelta
from decimal import Decimal as D

from fsm_risk.core.caps import CapLevels
from fsm_risk.core.effects import ClosePosition
from fsm_risk.core.events import Event, Quote
from fsm_risk.core.pnl import MarkMode
from fsm_risk.core.states import State
from fsm_risk.core.waited import TOGETHER, Fields, handing, judged, most, waited
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from fsm_risk.rules.position_stop_loss import PositionStopLoss
from fsm_risk.rules.position_take_profit import PositionTakeProfit
from fsm_risk.rules.trailing_drawdown import TrailingDrawdown
from tests.factories import (
    ES,
    MES,
    MNQ,
    MNQ_H27,
    NQ,
    T0,
    Driver,
    account,
    make_engine,
    position,
)

S = timedelta(seconds=1)
MS = timedelta(milliseconds=1)
AT = T0 + timedelta(minutes=1)


def _waited(d: Driver, quotes: Sequence[Quote], fields: Fields) -> list[Quote]:
    """The run as the service hands it on to ``d``'s engine (who holds what: its valuation)."""
    valuation = d.engine.valuation
    caps = CapLevels(valuation, d.engine.book)  # (where its holders' peaks reach their caps)
    return waited(quotes, d.engine.marks, fields, valuation.beside, valuation.holdings, caps)


def _two(mode: MarkMode, es_long: bool) -> Driver:
    """Long 1 MNQ at 21,000 ($2 a point), 1 ES at 6,000 ($50 a point, long or short), both
    quoted at entry; a 1,000 daily loss limit."""
    d = Driver(make_engine({DailyLossLimit: {"limit": "1000"}}, mark_mode=mode))
    d.now = AT
    d.send(
        account(),
        position(MNQ, 1, "21000", at=AT),
        position(ES, 1, "6000", long=es_long, at=AT),
    )
    d.send(Quote(MNQ, AT - 10 * S, D(21000), D(21000), D(21000)))
    d.send(Quote(ES, AT - 10 * S, D(6000), D(6000), D(6000)))
    return d


def _run(d: Driver, quotes: Iterable[Event]) -> tuple[object, ...]:
    """Sends ``quotes`` one by one (pulled as each is handled); the state, the worst open P&L
    seen and the open P&L left."""
    worst = D(0)
    for q in quotes:
        d.send(q)
        worst = min(worst, d.acct.open_upnl)
    return d.acct.state, worst, d.acct.open_upnl


def test_two_contracts_dipping_together_in_one_run_breach_as_one_by_one() -> None:
    """Long 1 MNQ and long 1 ES at liquidation value: both bids dip $600 at once (-1,200 on a
    1,000 limit), then both come back. One by one the account flattens; so it does waited
    together (it was judged at -600 at worst, Trading)."""
    quotes = [
        Quote(MNQ, AT + 1 * S, bid=D("20700")),  # MNQ -600
        Quote(ES, AT + 2 * S, bid=D("5988")),  # ES -600: -1,200 on the account
        Quote(MNQ, AT + 3 * S, bid=D("21000")),  # back
        Quote(ES, AT + 4 * S, bid=D("6000")),  # back
    ]
    one_by_one = _run(_two(MarkMode.LIQUIDATION, True), quotes)
    assert one_by_one == (State.Flattening, D("-1200"), D("0"))
    d = _two(MarkMode.LIQUIDATION, True)
    assert _run(d, _waited(d, quotes, judged(True))) == one_by_one


def test_a_hedge_never_below_zero_one_by_one_is_not_flattened_waited_together() -> None:
    """Long 1 MNQ, short 1 ES, at the last: ES falls 24 (+1,200), MNQ falls 600 (-1,200: the
    account at 0), MNQ comes back (+1,200), then ES (0). One by one the account never loses a
    cent; waited together it was judged at MNQ's low beside ES's mark from before the run,
    -1,200, and flattened: now it stays Trading, never below 0."""
    quotes = [
        Quote(MNQ, AT + 1 * S, last=D("21000")),  # MNQ's first of the run: unchanged
        Quote(ES, AT + 2 * S, last=D("5976")),  # short ES +1,200
        Quote(MNQ, AT + 3 * S, last=D("20400")),  # long MNQ -1,200: the account at 0
        Quote(MNQ, AT + 4 * S, last=D("21000")),  # back: +1,200
        Quote(ES, AT + 5 * S, last=D("6000")),  # back: 0
    ]
    one_by_one = _run(_two(MarkMode.LAST, False), quotes)
    assert one_by_one == (State.Trading, D("0"), D("0"))
    d = _two(MarkMode.LAST, False)
    assert _run(d, _waited(d, quotes, judged(False))) == one_by_one


def _spread() -> Driver:
    """At the roll: long 10 MNQ Z26 at 21,000 and short 10 MNQ H27 at 21,150 ($20 a point
    each side), both quoted at entry; a 1,000 daily loss limit, at the last."""
    d = Driver(make_engine({DailyLossLimit: {"limit": "1000"}}, mark_mode=MarkMode.LAST))
    d.now = AT
    d.send(account(), position(MNQ, 10, "21000", at=AT))
    d.send(position(MNQ_H27, 10, "21150", long=False, at=AT))
    d.send(Quote(MNQ, AT - 10 * S, D(21000), D(21000), D(21000)))
    d.send(Quote(MNQ_H27, AT - 10 * S, D(21150), D(21150), D(21150)))
    return d


def test_a_calendar_spread_in_a_steady_fall_is_not_flattened_waited_together() -> None:
    """Both months fall 1 point a quote, 60 quotes each, interleaved 25 ms apart (a burst the
    consumer took as one batch): the spread never moves and one by one the account is never
    worse than -$20. Waited together every quote of Z26 was judged before any of H27: Z26 60
    points down beside H27 from before the run, -1,200, flattened and locked for the day; now
    as one by one."""
    quotes = []
    for i in range(1, 61):
        quotes.append(Quote(MNQ, AT + (2 * i) * 25 * MS, last=D(21000 - i)))
        quotes.append(Quote(MNQ_H27, AT + (2 * i + 1) * 25 * MS, last=D(21150 - i)))
    one_by_one = _run(_spread(), quotes)
    assert one_by_one == (State.Trading, D("-20"), D("0"))
    d = _spread()
    state, worst, end = _run(d, _waited(d, quotes, judged(False)))
    # 120 quotes held together: past `TOGETHER` judged at a few places, every leg's mark moved
    # to its word there together (`Quote.legs`): never a state one by one did not pass through
    assert (state, end) == (State.Trading, D("0")) and worst >= D("-20"), worst
    d = _spread()
    assert _run(d, _waited(d, quotes[:TOGETHER], judged(False)))[0] is State.Trading


def test_a_hedge_opened_earlier_in_the_batch_is_judged_as_held_when_its_run_comes() -> None:
    """Long 1 MNQ alone when the batch is taken; in it, before the quotes, a short 1 ES at
    6,000 opens (the hedge above). Who holds what is asked when the run's turn comes, after
    the position is handled: the run is judged as one by one (never below 0), not as if MNQ
    stood alone beside ES's mark from before the run."""
    quotes = [
        Quote(MNQ, AT + 1 * S, last=D("21000")),
        Quote(ES, AT + 2 * S, last=D("5976")),
        Quote(MNQ, AT + 3 * S, last=D("20400")),
        Quote(MNQ, AT + 4 * S, last=D("21000")),
        Quote(ES, AT + 5 * S, last=D("6000")),
    ]

    def alone() -> Driver:
        d = Driver(make_engine({DailyLossLimit: {"limit": "1000"}}, mark_mode=MarkMode.LAST))
        d.now = AT
        d.send(account(), position(MNQ, 1, "21000", at=AT))
        d.send(Quote(MNQ, AT - 10 * S, D(21000), D(21000), D(21000)))
        d.send(Quote(ES, AT - 10 * S, D(6000), D(6000), D(6000)))  # nobody holds ES: dropped
        return d

    batch: list[Event] = [position(ES, 1, "6000", long=False, at=AT), *quotes]
    one_by_one = _run(alone(), batch)
    assert one_by_one == (State.Trading, D("0"), D("0"))
    d = alone()
    valuation = d.engine.valuation
    assert valuation.beside(MNQ) == set()  # when the batch is taken
    handed = handing(batch, valuation.marks, judged(False), valuation.beside)
    assert _run(d, handed) == one_by_one


def test_contracts_held_apart_stay_a_bounded_few_those_held_together_are_strided() -> None:
    """Four contracts quoted 64 times each, interleaved in one batch: one account holds MNQ,
    another ES, a third NQ and MES together. MNQ's and ES's quotes are a bounded few (`most`);
    NQ's and MES's one by one up to `TOGETHER` (the first 8 rounds), past it every stride-th
    and each one's latest, in their order (found by a review of 160d7c6: every one of them,
    300 accounts holding two contracts each fell 16 s behind a burst)."""
    d = Driver(make_engine({DailyLossLimit: {"limit": "100000"}}, mark_mode=MarkMode.LAST))
    d.now = AT
    d.send(account(acc=1), position(MNQ, 1, "21000", acc=1, at=AT))
    d.send(account(acc=2), position(ES, 1, "6000", acc=2, at=AT))
    d.send(account(acc=3), position(NQ, 1, "21000", acc=3, at=AT))
    d.send(position(MES, 1, "6000", long=False, acc=3, at=AT))
    r = random.Random(3)
    batch = [
        Quote(c, AT + (4 * i + k) * MS, last=D(21000 + r.randint(-400, 400)))
        for i in range(64)
        for k, c in enumerate((MNQ, ES, NQ, MES))
    ]
    out = _waited(d, batch, judged(False))
    for cid in (MNQ, ES):
        assert 2 <= len([q for q in out if q.contract_id == cid]) <= most(judged(False))
    together = [q for q in out if q.contract_id in (NQ, MES)]
    assert len(together) <= TOGETHER + 2 * most(judged(False))  # rv_late42: plus turns
    assert [q.at for q in together] == sorted(q.at for q in together)
    for cid in (NQ, MES):
        latest = [q for q in batch if q.contract_id == cid][-1]
        assert [q for q in together if q.contract_id == cid][-1].last == latest.last
    few = [q for q in batch if q.at < AT + 32 * MS]  # 8 rounds: 16 quotes held together
    d2 = Driver(make_engine({DailyLossLimit: {"limit": "100000"}}, mark_mode=MarkMode.LAST))
    d2.now = AT
    d2.send(account(acc=3), position(NQ, 1, "21000", acc=3, at=AT))
    d2.send(position(MES, 1, "6000", long=False, acc=3, at=AT))
    out = _waited(d2, few, judged(False))
    assert [q for q in out if q.contract_id in (NQ, MES)] == [
        q for q in few if q.contract_id in (NQ, MES)
    ]


#: each contract's price at the start and its dollars a point
_BASE = {MNQ: (D(21000), 2), MNQ_H27: (D(21150), 2), ES: (D(6000), 50)}


def _accounts(r: random.Random, contracts: Sequence[str]) -> list[dict[str, int]]:
    """Four accounts' positions (contract -> signed size): the first holds every contract,
    the second two of them, the third and fourth one each."""

    def size() -> int:
        return r.choice((1, 2, 3)) * r.choice((1, -1))

    return [
        {c: size() for c in contracts},
        {c: size() for c in r.sample(list(contracts), 2)},
        {r.choice(list(contracts)): size()},
        {r.choice(list(contracts)): size()},
    ]


def _engine(mode: MarkMode, held: list[dict[str, int]], contracts: Sequence[str]) -> Driver:
    """The accounts (ids 1-4) holding ``held`` at the base prices, each quoted there; a 1,000
    daily loss limit and an uncapped 1,500 intraday trailing drawdown."""
    trailing = {"drawdown": "1500", "starting_balance": "50000", "mode": "intraday"}
    trailing["freeze_at_start"] = "false"
    rules = {DailyLossLimit: {"limit": "1000"}, TrailingDrawdown: trailing}
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


def _walks(r: random.Random, contracts: Sequence[str], n: int) -> list[Quote]:
    """``n`` partial quotes of the contracts in a random order, their prices a common move
    (in dollars a contract) and each its own noise, stamped in order."""
    common, at, out = D(0), AT, []
    for _ in range(n):
        common += r.choice((-1, 1)) * D(r.choice((20, 40, 80, 120)))
        c = r.choice(list(contracts))
        base, per_point = _BASE[c]
        p = base + (common + D(r.choice((-60, -20, 0, 20, 60)))) / per_point
        at += r.choice((0, 1, 5)) * MS
        names = r.sample(("last", "bid", "ask"), r.randint(1, 3))
        spread = {"last": D(0), "bid": D("-0.25"), "ask": D("0.25")}
        out.append(Quote(c, at, **{k: p + spread[k] for k in names}))  # type: ignore[arg-type]
    return out


def _left(d: Driver, quotes: Iterable[Quote]) -> list[tuple[object, ...]]:
    for q in quotes:
        d.send(q)
    return [
        (a.state, a.open_upnl, a.rule_state.get("RULE-004", {}).get("peak"))
        for _, a in sorted(d.engine.accounts.items())
    ]


def test_a_batch_of_contracts_held_together_and_apart_is_judged_as_one_by_one() -> None:
    """Seeded random batches of 2 or 3 contracts (two months of MNQ, ES), 4 to `TOGETHER` partial
    quotes, a common move and each contract's noise, at either mark mode; four accounts, one
    holding every contract, one two, two one each, long or short, under a daily loss limit
    and an uncapped intraday trailing drawdown: each account's state, open P&L and peak are
    those one by one left (a good share of accounts flatten)."""
    flattened = 0
    for seed in range(160):
        r = random.Random(seed)
        contracts = r.sample([MNQ, MNQ_H27, ES], r.choice((2, 3)))
        mode = r.choice((MarkMode.LIQUIDATION, MarkMode.LAST))
        held = _accounts(r, contracts)
        quotes = _walks(r, contracts, r.randint(4, TOGETHER))  # (past it: test_quotes_strided_legs)
        one_by_one = _left(_engine(mode, held, contracts), quotes)
        flattened += sum(s is not State.Trading for s, _, _ in one_by_one)
        d = _engine(mode, held, contracts)
        fields = judged(mode is MarkMode.LIQUIDATION)
        assert _left(d, _waited(d, quotes, fields)) == one_by_one, seed
    assert flattened > 30


def _positional(mode: MarkMode, held: list[dict[str, int]], contracts: Sequence[str]) -> Driver:
    """As `_engine`, under a 300 position stop loss and a 400 position take profit alone."""
    rules = {PositionStopLoss: {"limit": "300"}, PositionTakeProfit: {"target": "400"}}
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


def _closed(d: Driver, quotes: Iterable[Quote]) -> tuple[object, ...]:
    for q in quotes:
        d.send(q)
    closes = sorted(
        (e.account_id, e.contract_id) for e in d.effects if isinstance(e, ClosePosition)
    )
    states = [(a.state, a.open_upnl) for _, a in sorted(d.engine.accounts.items())]
    return closes, states


def test_rules_on_a_position_alone_merge_contracts_held_together() -> None:
    """The position stop loss and take profit judge the quoted contract's own position: with
    them alone no quote rule needs the order of two contracts' quotes (`RuleBook.whole`
    False: the service then tells `waited` no contract is held beside another), and every
    contract's quotes merge at its turns, the closes and the accounts left those one by one
    left; beside a daily loss limit the book needs it."""
    assert not _positional(MarkMode.LAST, [], []).engine.book.whole
    assert _engine(MarkMode.LAST, [], []).engine.book.whole
    closed = 0
    for seed in range(60):
        r = random.Random(seed)
        contracts = r.sample([MNQ, MNQ_H27, ES], r.choice((2, 3)))
        mode = r.choice((MarkMode.LIQUIDATION, MarkMode.LAST))
        held = _accounts(r, contracts)
        quotes = _walks(r, contracts, r.randint(4, 200))
        one_by_one = _closed(_positional(mode, held, contracts), quotes)
        closed += len(one_by_one[0])
        d = _positional(mode, held, contracts)
        merged = waited(quotes, d.engine.marks, judged(mode is MarkMode.LIQUIDATION), _apart)
        assert len(merged) < len(quotes) or len(quotes) < 20, seed
        assert _closed(d, merged) == one_by_one, seed
    assert closed > 40


def _apart(_contract_id: str) -> tuple[str, ...]:
    return ()
