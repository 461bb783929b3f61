"""An account flat at the stop that opens a position after the restart, before the balances
listed after the subscriptions arrive: its enforcing step is read early, right after
enforcement, before the other exposed accounts' steps (`unread.read_early`,
`reconciler.urgency`), and that step's listing settles it, so its loss limit judges within
seconds of the restart. It waited for its whole read, after every exposed account's steps (up
to a minute at 100 exposed).

Found by a review of 42fb123 (which settled such an account by the start listing alone): the
gateway pushes nothing on a subscription, so a position opened while the service was down is
in no books until a read lists it; settled by the balance, the account was judged on what was
heard live alone."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from types import SimpleNamespace

from fsm_risk import reconciler
from fsm_risk.core.effects import ClosePosition
from fsm_risk.core.events import Side
from fsm_risk.core.states import State
from fsm_risk.core.unread import read_early
from fsm_risk.service import Service
from tests.factories import (
    MNQ,
    Driver,
    account,
    closes,
    fill,
    position,
    quote,
    restart,
    settled_read,
    start_listed,
)
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


def opened_two_mnq_live(again: Driver) -> None:
    """Two seconds after the restart it buys 2 MNQ at 21000 (heard live); the start listing
    (49,600, as stored) comes after; MNQ falls to 20950: -$200 on the 2."""
    t = again.now = again.now + timedelta(seconds=2)
    again.send(fill(MNQ, Side.BUY, 2, "21000", order_id=3, trade_id=103, at=t))
    again.send(position(MNQ, 2, "21000", at=t))
    start_listed(again, "49600")
    again.send(quote(MNQ, "20950", at=t))
    assert again.acct.open_upnl == Decimal("-200")


def test_a_flat_restored_account_opening_before_the_start_listing_is_read_early() -> None:
    """Exposed since its restore, its enforcing step goes right after enforcement (before the
    other exposed accounts' steps); the start listing alone does not settle it; its enforcing
    step's listing (as stored) does, and the day -$600 on a $500 limit closes at once."""
    again = restored_flat_down_400_unlisted()
    assert not read_early(again.acct)  # flat: probed, then read last, as before
    opened_two_mnq_live(again)
    assert read_early(again.acct)
    early = reconciler.urgency(enforcing=False, exposed=True, known=False, probed=True, early=True)
    assert reconciler.ENFORCING < early == reconciler.FORESEEN < reconciler.EXPOSED
    assert again.acct.state is State.Trading  # its positions unread: they wait for them
    settled_read(again)  # its enforcing step: 2 MNQ listed, 49,600 (as stored) settles it
    assert not read_early(again.acct)
    sent = [e.contract_id for e in again.effects if isinstance(e, ClosePosition)]
    assert again.acct.state is State.Flattening and sent == [MNQ], (
        f"-400 realized, -200 open on a $500 limit, its positions read: {again.acct.state}"
    )


def test_a_position_opened_while_down_is_not_missed_by_a_start_listing_judgement() -> None:
    """Found by a review: the same account bought 2 MNQ H27 at 21000 while the service was
    down (no fee; the gateway pushes nothing of it on the subscription, so no books hold it).
    The start listing (49,600, as stored) settled it under 42fb123, and it was judged on what
    was heard live alone: MNQ Z26 at 20950 read the day -$600 on a $500 limit, flattened and
    locked (MNQ H27 at 21075 is +$300: the day -$300). Its rules on realized P&L wait for its
    positions read, which is its enforcing step, read early."""
    again = restored_flat_down_400_unlisted()
    opened_two_mnq_live(again)
    out = again.send(quote(MNQ, "20950", at=again.now))
    assert again.acct.state is State.Trading and closes(out) == [], (
        f"judged on books missing MNQ H27 (+300): {[c.contract_id for c in closes(out)]}"
    )
    assert again.acct.unjudged is not None and again.acct.unjudged.restored
    assert read_early(again.acct)


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


def urgency_in_the_service(d: Driver, known: bool = False) -> int:
    """`Service._urgency` of the driver's account: nothing held back, not probed."""
    svc = Service.__new__(Service)  # (`_urgency` reads only what is set here)
    svc.engine = d.engine
    svc.known = {d.acc} if known else set()
    svc.held_back, svc.probed = {}, {}
    svc.clock = SimpleNamespace(now=lambda: d.now)  # type: ignore[assignment]
    return svc._urgency(d.acc)


def test_the_service_places_its_enforcing_step_right_after_enforcement() -> None:
    """The service's line: exposed since its restore, flat at the stop, not read: FORESEEN
    (before the other exposed accounts' steps); an account exposed at the stop: EXPOSED, as
    before; once read (known), its place is its being behind's."""
    again = restored_flat_down_400_unlisted()
    assert urgency_in_the_service(again) == reconciler.PROBE
    opened_two_mnq_live(again)
    assert urgency_in_the_service(again) == reconciler.FORESEEN
    settled_read(again)
    assert urgency_in_the_service(again, known=True) == reconciler.REST  # behind, settled
    assert urgency_in_the_service(restored_long_two_scratched_while_down()) == reconciler.EXPOSED
