"""Found by a review of b62e868: the start listing settled a restored account's stored books
before any read of its positions; a balance says nothing of them (a scratch while down, net
zero, left the stored long 2 judged at -$1,200: a close for nothing and a day lock)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from decimal import Decimal

from fsm_risk.core.effects import ClosePosition
from fsm_risk.core.events import Listing, Side, Tick
from fsm_risk.core.states import State
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
    start_listed,
)

DOWN = timedelta(minutes=10)


def daily_500():  # type: ignore[no-untyped-def]
    return make_engine({DailyLossLimit: {"limit": "500"}})


def restored_long_two_scratched_while_down() -> Driver:
    """Long 2 MNQ at 21000 on $50,000 (zero fees: a fee-free account), -$0 on the day, a $500
    daily loss limit. While the service was down the trader scratched the 2 MNQ at 21000
    (pnl 0, fees 0): the gateway's balance is still 50,000 and the account is FLAT."""
    d = Driver(daily_500())
    d.send(account("50000"), fill(MNQ, Side.BUY, 2, "21000", order_id=1, trade_id=101, at=T0))
    d.send(position(MNQ, 2, "21000"), quote(MNQ, "21000"))
    assert d.acct.state is State.Trading
    again = restart(d, daily_500, at=d.now + DOWN)
    if "listed" in Tick.__dataclass_fields__:  # (before b62e868 the service sent no such Tick)
        start_listed(again, "50000")  # the gateway's balance after the scratch: unchanged
    return again


def test_a_scratch_while_down_is_not_judged_on_the_stale_stored_position() -> None:
    """The start listing settles the books (50,000 == stored), so the DLL judges at once, on
    the STORED position (long 2) that no read confirmed. MNQ falls 300 points: the engine
    reads -$600 open on a $500 limit, flattens and locks the day. The account is flat."""
    again = restored_long_two_scratched_while_down()
    again.send(quote(MNQ, "20700", at=again.now))
    sent = [e.contract_id for e in again.effects if isinstance(e, ClosePosition)]
    # what must hold: the account is flat and its day is $0: no close, no lock
    assert again.acct.state is State.Trading and sent == [], (
        f"a flat account (scratched while down, balance unchanged) judged on its stale stored "
        f"long 2: state={again.acct.state}, open_upnl={again.acct.open_upnl}, closes={sent}"
    )


def test_then_the_enforcing_step_reads_it_flat_and_no_day_lock_is_left() -> None:
    """Continuation: the enforcing step lists the account FLAT (its stored position gone): the
    lock made on a position that did not exist is still held for the day."""
    again = restored_long_two_scratched_while_down()
    again.send(quote(MNQ, "20700", at=again.now))
    again.now += timedelta(seconds=30)
    listing = Listing(
        ACC,
        frozenset(),
        frozenset(),
        frozenset(),
        frozenset(),
        frozenset({101}),
        behind=True,
        began=again.now,
    )
    again.send(dataclasses.replace(listing, listed=Decimal("50000")))
    again.send(dataclasses.replace(position(MNQ, 0, "21000", at=again.now), snapshot=True))
    again.effects.extend(again.engine.resume(ACC, set(), again.now))
    again.advance(seconds=1)
    assert again.acct.net.get(MNQ, 0) == 0
    assert again.acct.state is State.Trading, (
        f"flat, day $0 on a $500 limit, yet {again.acct.state}; holds={list(again.acct.holds)}"
    )
