"""A restored account's rules on realized P&L wait for its first read (`core.unread`): its
first quote reaches the engine before its enforcing step, and its stored books miss whatever
it traded while the service was down. Judged on them, a trader who won $200 while down and
was $600 down open on 2 MNQ read -$600 on a $500 daily loss limit (his day: -$400) and was
flattened and locked. The listing that settles the books lets a real breach fire at once."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from decimal import Decimal

from fsm_risk.core.effects import ClosePosition, Effect
from fsm_risk.core.engine import RiskEngine
from fsm_risk.core.events import Listing, Side, Tick, TradesSnapshot
from fsm_risk.core.states import State
from fsm_risk.core.unjudged import ESTIMATED, LATE
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from tests.factories import (
    ACC,
    MNQ,
    T0,
    Driver,
    account,
    fill,
    make_engine,
    position,
    quote,
    restart,
    settled_read,
)

BOUGHT = fill(MNQ, Side.BUY, 2, "21000", order_id=1, trade_id=101, at=T0)
DOWN = timedelta(minutes=10)  # how long the service was stopped


def engine() -> RiskEngine:
    return make_engine({DailyLossLimit: {"limit": "500"}})


def restored_long_two() -> Driver:
    """Long 2 MNQ at 21000 on a $50,000 balance and a $500 daily loss limit, stopped, and
    restored ten minutes later (nothing read from the gateway yet)."""
    d = Driver(engine())
    d.send(account("50000"), BOUGHT, position(MNQ, 2, "21000"), quote(MNQ, "21000"))
    assert d.acct.state is State.Trading
    return restart(d, engine, at=d.now + DOWN)


def closes(effects: list[Effect]) -> list[str]:
    return [e.contract_id for e in effects if isinstance(e, ClosePosition)]


def test_a_quote_before_the_first_read_waits_and_the_settling_listing_fires_at_once() -> None:
    """Nothing traded while down, MNQ fell $600 on the 2: a real breach, judged not on the
    unconfirmed books of the first quote but at the listing that confirms them."""
    again = restored_long_two()
    sent = again.send(quote(MNQ, "20850", at=again.now))  # -$600 open, before any read
    assert again.acct.open_upnl == Decimal("-600")
    assert again.acct.state is State.Trading, "judged on books the gateway has not confirmed"
    assert closes(sent) == []
    sent = settled_read(again)  # the enforcing step: its balance settles the books
    assert again.acct.unjudged is None
    assert again.acct.state is State.Flattening, "the breach fires at the settling listing"
    assert closes(sent) == [MNQ]


def test_a_win_while_down_beside_an_open_loss_never_closes_the_account() -> None:
    """+$200 won while down, -$600 open: the day is -$400 on a $500 limit."""
    again = restored_long_two()
    again.send(quote(MNQ, "20850", at=again.now))
    assert again.acct.state is State.Trading and closes(again.effects) == []
    held = frozenset({MNQ})
    listing = Listing(ACC, held, frozenset(), held, frozenset(), frozenset({101}), behind=True)
    again.send(dataclasses.replace(listing, listed=Decimal("50200")), position(MNQ, 2, "21000"))
    again.effects.extend(again.engine.resume(ACC, set(), again.now))
    acct = again.acct
    assert acct.behind is not None and not acct.behind.settled  # (its trades decide)
    assert acct.unjudged is not None and acct.unjudged.since == again.now  # (its clock anew)
    assert acct.state is State.Trading and closes(again.effects) == []
    won = (
        fill(MNQ, Side.BUY, 1, "20800", order_id=2, trade_id=102, at=T0 + DOWN / 2),
        fill(MNQ, Side.SELL, 1, "20900", pnl="200", order_id=3, trade_id=103, at=T0 + DOWN / 2),
    )
    again.send(TradesSnapshot(ACC, acct.week.start, (BOUGHT, *won), frozenset({101})), Tick(ACC))
    assert acct.behind is None and acct.unjudged is None and acct.day.realized == 200
    assert acct.state is State.Trading and closes(again.effects) == []  # -$400 on the day


def test_a_restored_account_whose_first_read_never_comes_is_judged_on_the_estimate() -> None:
    """Its wait began at the restore: `LATE` after it, the loss limit judges what is known."""
    again = restored_long_two()
    start = again.now
    again.send(quote(MNQ, "20850", at=start))
    assert again.acct.state is State.Trading
    assert again.engine.next_deadline() == start + LATE
    again.at(start + LATE - timedelta(seconds=1))
    again.send(quote(MNQ, "20850", at=again.now))  # (still waiting: judged on nothing yet)
    assert again.acct.state is State.Trading
    out = again.at(start + LATE)
    out += again.send(quote(MNQ, "20850", at=again.now))  # (a fresh quote's loss counts)
    assert again.acct.state is State.Flattening and closes(out) == [MNQ]
    assert ESTIMATED in again.acct.holds["RULE-003"].detail


def test_a_failed_first_read_is_judged_on_the_estimate_after_the_grace() -> None:
    again = restored_long_two()
    again.send(quote(MNQ, "20850", at=again.now))
    again.send(Tick(ACC, unread=True))  # the shell: a read of the account failed
    assert again.acct.state is State.Trading
    again.advance(seconds=5)
    again.send(Tick(ACC))
    assert again.acct.state is State.Flattening


def test_a_lock_kept_from_before_the_stop_stays_through_the_settling_listing() -> None:
    d = Driver(engine())
    d.send(account("50000"), BOUGHT, position(MNQ, 2, "21000"), quote(MNQ, "20850"))
    assert d.acct.state is State.Flattening
    sold = fill(MNQ, Side.SELL, 2, "20850", pnl="-600", order_id=9, trade_id=109, at=d.now)
    d.send(sold, position(MNQ, 0, "21000"), account("49400"))
    assert d.acct.state is State.LockedDaily
    again = restart(d, engine, at=d.now + DOWN)
    assert again.acct.state is State.LockedDaily
    settled_read(again)
    assert again.acct.unjudged is None and again.acct.state is State.LockedDaily
    assert again.acct.holds["RULE-003"].until is not None
    assert again.acct.holds["RULE-003"].until > again.now
