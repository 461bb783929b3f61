"""An account flat at the stop that opens a position after the restart, before the balances
listed after the subscriptions arrive: the listing that settles its books settles it (what it
holds was heard live; it has no enforcing step), so its loss limit judges at once. It waited
for its whole read, after every exposed account's steps (up to a minute at 100 exposed)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from fsm_risk.core.effects import ClosePosition
from fsm_risk.core.events import Side
from fsm_risk.core.states import State
from tests.factories import MNQ, Driver, account, fill, position, quote, restart, start_listed
from tests.unit.test_restored_settled_by_the_start_listing import DOWN, daily_500
from tests.unit.test_restored_start_listing_review import restored_long_two_scratched_while_down


def restored_flat_down_400_unlisted() -> Driver:
    """A $500 daily loss limit; -$400 realized before the stop, flat at the stop; restored
    ten minutes later, the start listing not arrived yet."""
    d = Driver(daily_500())
    d.send(account("50000"), fill(MNQ, Side.BUY, 2, "21000", order_id=1, trade_id=101))
    d.send(position(MNQ, 2, "21000"), quote(MNQ, "21000"))
    d.send(fill(MNQ, Side.SELL, 2, "20900", pnl="-400", order_id=2, trade_id=102))
    d.send(position(MNQ, 0, "21000"), account("49600"))
    assert not d.acct.exposed() and d.acct.day.realized == Decimal("-400")
    return restart(d, daily_500, at=d.now + DOWN)


def test_a_flat_restored_account_opening_before_the_start_listing_is_judged_at_it() -> None:
    """It buys 2 MNQ two seconds after the restart; the listing (49,600, as stored) comes
    after; MNQ falls $200 on the 2: the day -$600 on a $500 limit must close at once."""
    again = restored_flat_down_400_unlisted()
    t = again.now = again.now + timedelta(seconds=2)
    again.send(fill(MNQ, Side.BUY, 2, "21000", order_id=3, trade_id=103, at=t))
    again.send(position(MNQ, 2, "21000", at=t))
    start_listed(again, "49600")
    again.send(quote(MNQ, "20950", at=t))
    assert again.acct.open_upnl == Decimal("-200")
    sent = [e.contract_id for e in again.effects if isinstance(e, ClosePosition)]
    assert again.acct.state is State.Flattening and sent == [MNQ], (
        f"-400 realized, -200 open on a $500 limit, its balance settled: {again.acct.state}"
    )


def test_a_flat_restored_account_whose_balance_moved_still_waits() -> None:
    """The same, its balance listed $300 lower than stored (a loss while down the books do
    not hold): the rules wait for its trades, as before."""
    again = restored_flat_down_400_unlisted()
    t = again.now = again.now + timedelta(seconds=2)
    again.send(fill(MNQ, Side.BUY, 2, "21000", order_id=3, trade_id=103, at=t))
    again.send(position(MNQ, 2, "21000", at=t))
    start_listed(again, "49300")
    assert again.acct.unjudged is not None and again.acct.unjudged.restored


def test_an_account_exposed_at_the_stop_still_waits_for_its_positions() -> None:
    """Guard: held at the stop, a settling balance says nothing of the stored position (a
    scratch while down): it waits for its enforcing step's read, as before."""
    again = restored_long_two_scratched_while_down()
    assert again.acct.unjudged is not None and again.acct.unjudged.restored
