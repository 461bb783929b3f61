"""Found by a review of ca4d42d: with every quote record handed on, a burst of quotes was judged
quote by quote and the consumer fell behind without bound. Quotes that waited together in the
queue are judged as a bounded few per contract (`core.waited`; which few:
`test_quotes_waited_turns`): no field's word is lost, nothing crosses another event, and the
mark left is the one the quotes one by one would have left."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal as D

from fsm_risk.core.events import Quote, Tick
from fsm_risk.core.mark import Mark
from fsm_risk.core.pnl import MarkMode
from fsm_risk.core.states import State
from fsm_risk.core.waited import waited
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from tests.factories import ES, MNQ, T0, Driver, account, make_engine, position

S = timedelta(seconds=1)


def apart(_contract_id: str) -> tuple[str, ...]:
    """No holder of a contract holds another (each contract's quotes merged: `waited`'s
    ``beside``; contracts held together go one by one, `test_quotes_waited_shared`)."""
    return ()


def test_a_partial_quote_followed_by_another_keeps_both_fields() -> None:
    book = Quote(MNQ, T0, bid=D("20999.75"), ask=D("21000"))
    print_ = Quote(MNQ, T0, last=D("21000.25"))
    assert waited([book, print_], {}) == [Quote(MNQ, T0, D("21000.25"), D("20999.75"), D("21000"))]


def test_each_field_keeps_its_latest_word_and_the_latest_stamp() -> None:
    """The last quote handed on; ``a`` before it, as it is: the lowest last and bid."""
    a = Quote(MNQ, T0, last=D(1), bid=D(1), ask=D(2))
    b = Quote(MNQ, T0 + S, bid=D(3))
    c = Quote(MNQ, T0 + 2 * S, last=D(4))
    assert waited([a, b, c], {}) == [a, Quote(MNQ, T0 + 2 * S, D(4), D(3), D(2))]


def test_quotes_merge_per_contract_and_never_across_another_event() -> None:
    tick = Tick(7)
    items = [
        Quote(MNQ, T0, last=D(1)),
        Quote(ES, T0, last=D(2)),
        Quote(MNQ, T0, bid=D(3)),
        tick,
        Quote(MNQ, T0, ask=D(5)),
        None,
    ]
    assert waited(items, {}, beside=apart) == [
        Quote(MNQ, T0, D(1), D(3), None),
        Quote(ES, T0, D(2)),
        tick,
        Quote(MNQ, T0, ask=D(5)),
        None,
    ]


def test_a_quote_older_than_the_runs_own_is_left_as_it_is_after_the_run() -> None:
    new = Quote(MNQ, T0 + 5 * S, last=D(1))
    old = Quote(MNQ, T0, last=D(9))
    tick = Tick()
    assert waited([new, old, tick], {}) == [new, old, tick]


def test_a_quote_older_than_the_mark_is_never_merged_into_a_newer_one() -> None:
    """The engine ignores a quote older than its contract's mark: merged with a newer quote,
    its bid would have moved the mark."""
    mark = {MNQ: Mark(D(10), D(10), D(10), T0 + 5 * S)}
    stale = Quote(MNQ, T0, bid=D(1))
    fresh = Quote(MNQ, T0 + 6 * S, last=D(11))
    assert waited([stale, fresh], mark) == [stale, fresh]


def test_one_quote_alone_is_handed_on_as_it_is() -> None:
    q = Quote(MNQ, T0, last=D(1))
    assert waited([q], {}) == [q]


def _driven(at: datetime) -> Driver:
    """Long 1 MNQ at 21,000 and 1 ES at 6,000, both quoted at their entry, valued on the
    side a close would take (partial quotes move the bid and the ask apart from the last)."""
    d = Driver(make_engine({DailyLossLimit: {"limit": "1000"}}, mark_mode=MarkMode.LIQUIDATION))
    d.now = at
    d.send(account(), position(MNQ, 1, "21000", at=at), position(ES, 1, "6000", at=at))
    d.send(Quote(MNQ, at - 10 * S, D(21000), D(21000), D("21000.25")))
    d.send(Quote(ES, at - 10 * S, D(6000), D(6000), D("6000.25")))
    return d


def _left(d: Driver, items: list[Quote | Tick]) -> tuple[object, ...]:
    for it in items:
        d.send(it)
    marks = {c: (m.last, m.bid, m.ask, m.at) for c, m in d.engine.marks.items()}
    return marks, d.acct.open_upnl, d.acct.state


def test_the_marks_and_the_verdict_are_those_of_the_quotes_one_by_one() -> None:
    """Partial quotes, one stamped before the mark, one before the run's own quote of its
    contract, a tick among them: the marks left, the open P&L and the state are those the
    quotes one by one leave; without the marks (merged whatever their stamp) they are not."""
    at = T0 + timedelta(minutes=1)
    quotes: list[Quote | Tick] = [
        Quote(MNQ, at - 30 * S, bid=D("20000")),  # older than the mark: ignored
        Quote(MNQ, at + S, ask=D("20990.5")),
        Quote(ES, at + S, last=D("5990")),
        Quote(MNQ, at + 2 * S, last=D("20950")),
        Quote(MNQ, at, bid=D("19000")),  # older than the one before it: ignored
        Quote(ES, at + 3 * S, bid=D("5989.75")),
        Tick(),
        Quote(MNQ, at + 4 * S, ask=D("20980")),
        Quote(MNQ, at + 5 * S, last=D("20940")),
    ]
    one_by_one = _left(_driven(at), quotes)
    d = _driven(at)
    together = waited(quotes, d.engine.marks, beside=apart)  # (the merge itself: apart)
    assert len(together) == 6  # the stale MNQ as it is, MNQ, ES, the old MNQ, the tick, MNQ
    assert _left(d, together) == one_by_one
    assert one_by_one[1:] == (D("-512.50"), State.Trading)  # ES bid 5,989.75; MNQ's 21,000
    merged = waited(quotes, {}, beside=apart)  # merged whatever their stamp
    _marks, upnl, state = _left(_driven(at), merged)
    assert (upnl, state) == (D("-2512.50"), State.Flattening)  # the stale bid: a false breach
