"""A restored account's first read is the balances listed once every hub was subscribed
(`unread.start_listed`), not only its enforcing step's listing or its whole read: an account
flat at the stop has no enforcing step, and its whole read comes after every exposed account's
steps. A balance that settles its stored books ends its wait at once; one that moved keeps it
waiting for its trades. A lock made on the estimate by an earlier run ends at the trades read
that follows a settling listing (`unjudged.released`), never at the listing itself."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from fsm_risk.core.effects import ClosePosition
from fsm_risk.core.events import Fill, Side, Tick, TradesSnapshot
from fsm_risk.core.states import State
from fsm_risk.core.unjudged import ESTIMATED, GRACE
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from fsm_risk.rules.trailing_drawdown import TrailingDrawdown
from tests.factories import (
    ACC,
    MNQ,
    T0,
    Driver,
    account,
    balance_read,
    fill,
    flat,
    make_engine,
    our_close_filled,
    position,
    quote,
    restart,
    rule_driver,
    rule_engine,
    settled_read,
    start_listed,
)
from tests.unit.test_restored_waits_for_its_first_read import restored_long_two
from tests.unit.test_unread import BOUGHT, restarted

DOWN = timedelta(minutes=10)
FAILED = Tick(ACC, unread=True)


def daily_500():  # type: ignore[no-untyped-def]
    return make_engine({DailyLossLimit: {"limit": "500"}})


def restored_flat_down_400() -> Driver:
    """A $500 daily loss limit; -$400 realized today before the stop (a closed MNQ trip),
    flat at the stop; restored ten minutes later and its balance listed as stored."""
    d = Driver(daily_500())
    d.send(account("50000"), fill(MNQ, Side.BUY, 2, "21000", order_id=1, trade_id=101, at=T0))
    d.send(position(MNQ, 2, "21000"), quote(MNQ, "21000"))
    d.send(fill(MNQ, Side.SELL, 2, "20900", pnl="-400", order_id=2, trade_id=102, at=T0))
    d.send(position(MNQ, 0, "21000"), account("49600"))
    assert d.acct.state is State.Trading and d.acct.day.realized == Decimal("-400")
    assert not d.acct.exposed()
    again = restart(d, daily_500, at=d.now + DOWN)
    start_listed(again)  # 49,600: as stored
    return again


def test_a_flat_restored_account_settled_at_the_start_opening_past_its_limit_is_closed() -> None:
    """Found by a review: flat at the stop (-$400 on a $500 limit), it bought 2 MNQ right
    after the restart and they fell $200: its rules waited for its whole read, after every
    exposed account's steps (60.6 s at 100 exposed accounts at the shipped budget)."""
    again = restored_flat_down_400()
    t = again.now = again.now + timedelta(seconds=2)
    again.send(fill(MNQ, Side.BUY, 2, "21000", order_id=3, trade_id=103, at=t))
    again.send(position(MNQ, 2, "21000", at=t))
    again.send(quote(MNQ, "20950", at=t))  # -$200 open: the day -$600 on $500
    assert again.acct.open_upnl == Decimal("-200")
    sent = [e.contract_id for e in again.effects if isinstance(e, ClosePosition)]
    assert again.acct.state is State.Flattening and sent == [MNQ], (
        f"-400 realized, -200 open on a $500 limit and not closed: {again.acct.state}"
    )


def test_a_flat_restored_account_settled_at_the_start_realizing_past_its_limit_locks() -> None:
    """Found by a review: a round trip realizing -$200 live after the restart (the day -$600
    on $500) left it trading until its whole read."""
    again = restored_flat_down_400()
    t = again.now = again.now + timedelta(seconds=2)
    again.send(fill(MNQ, Side.BUY, 2, "21000", order_id=3, trade_id=103, at=t))
    again.send(position(MNQ, 2, "21000", at=t), quote(MNQ, "20950", at=t))
    again.send(fill(MNQ, Side.SELL, 2, "20950", pnl="-200", order_id=4, trade_id=104, at=t))
    again.send(position(MNQ, 0, "21000", at=t), account("49400"))
    assert again.acct.day.realized == Decimal("-600")
    assert again.acct.state is State.LockedDaily, (
        f"day -600 on a $500 limit after the restart, not locked: {again.acct.state}"
    )


def test_a_restored_exposed_account_settled_at_the_start_closes_at_its_step() -> None:
    """Nothing traded while down, MNQ fell $600 on the 2: the start listing settles the
    balance but not the stored position (a scratch while down leaves the balance as it was):
    the breach fires at the enforcing step's listing, which read the position."""
    again = restored_long_two()
    start_listed(again)
    again.send(quote(MNQ, "20850", at=again.now))
    assert again.acct.state is State.Trading
    settled_read(again)
    sent = [e.contract_id for e in again.effects if isinstance(e, ClosePosition)]
    assert again.acct.state is State.Flattening and sent == [MNQ]


def test_a_restored_account_whose_balance_moved_keeps_waiting_at_the_start_listing() -> None:
    """A +$200 win while down (listed 50,200): the stored books miss it, the rules wait on (its
    day is -$400 with -$600 open on a $500 limit: judged on the books it would close)."""
    again = restored_long_two()
    start_listed(again, "50200")
    again.send(quote(MNQ, "20850", at=again.now))
    assert again.acct.open_upnl == Decimal("-600")
    assert again.acct.state is State.Trading
    assert again.acct.unjudged is not None and again.acct.unjudged.restored


def test_a_high_made_live_after_a_settled_restart_raises_the_peak_and_the_fall_locks() -> None:
    """Found by a review: RULE-004 intraday on a restored flat account: its peak did not rise
    while it waited for its first read, so a high made live after the restart was lost for
    good ($800 of room kept past the fall that must close it)."""
    d: Driver = rule_driver(TrailingDrawdown, drawdown="1000", mode="intraday")
    d.send(account("50000"))
    assert d.acct.rule_state["RULE-004"]["peak"] == "50000" and not d.acct.exposed()

    def engine():  # type: ignore[no-untyped-def]
        return rule_engine(TrailingDrawdown, drawdown="1000", mode="intraday")

    again = restart(d, engine, at=d.now + DOWN)
    start_listed(again)
    t = again.now = again.now + timedelta(seconds=2)
    again.send(fill(MNQ, Side.BUY, 1, "21000", order_id=3, trade_id=103, at=t))
    again.send(position(MNQ, 1, "21000", at=t), quote(MNQ, "21400", at=t))  # equity 50,800
    assert Decimal(again.acct.rule_state["RULE-004"]["peak"]) == Decimal("50800")
    again.now = t + timedelta(seconds=5)
    again.send(quote(MNQ, "20900", at=again.now))  # equity 49,800: the floor 50,800 - 1,000
    assert again.acct.state is State.Flattening, "equity at its floor and not closed"


def estimate_locked_then_restarted() -> tuple[Driver, tuple[Fill, ...]]:
    """A $1,000 fall of the balance while down (listed 49,000), its trades unread (a read
    failed): past the grace, RULE-003 locks on the estimate; the balance 49,000 read back.
    Restarted five minutes later. Returns the driver and the day's trades the gateway lists."""
    d = restarted("49000")
    d.send(quote(MNQ, "21000"), FAILED)
    d.now += GRACE + timedelta(seconds=1)
    d.send(quote(MNQ, "21000", at=d.now))
    assert d.acct.state is State.Flattening
    ours = our_close_filled(MNQ, Side.SELL, 2, "21000", pnl="0", at=d.now)
    d.send(*ours, flat(MNQ))
    balance_read(d, "49000")
    assert d.acct.state is State.LockedDaily and ESTIMATED in d.acct.holds["RULE-003"].detail
    listed = (BOUGHT, *[e for e in ours if isinstance(e, Fill)])
    again = restart(d, daily_500, at=d.now + timedelta(minutes=5))
    again.advance(seconds=1)
    return again, listed


def trades_read(d: Driver, trades: tuple[Fill, ...]) -> None:
    d.send(TradesSnapshot(ACC, d.acct.week.start, trades, frozenset(d.acct.seen_trades)))
    d.send(Tick(ACC))
    balance_read(d, "49000")
    d.advance(seconds=1)


def test_an_estimate_lock_on_a_payout_ends_at_the_trades_read_after_a_settling_listing() -> None:
    """Found by a review: a lock an earlier run made on the estimate (a $1,000 payout counted
    as a loss) was kept all day once a restart's listing settled the stored balance: the
    listing dropped the wait, and nothing released the lock when the trades were read."""
    again, listed = estimate_locked_then_restarted()
    settled_read(again)  # its enforcing step's listing: 49,000, as stored
    assert again.acct.state is State.LockedDaily  # (the listing alone ends no estimate lock)
    trades_read(again, listed)  # no trade made the fall: a payout
    assert again.acct.state is State.Trading, "a lock made on the estimate kept past its read"


def test_an_estimate_lock_settled_by_the_start_listing_ends_at_the_trades_read() -> None:
    """As above, the balance settled by the listing after the subscriptions (flat: the
    account's first read)."""
    again, listed = estimate_locked_then_restarted()
    start_listed(again)
    assert again.acct.unjudged is None and again.acct.state is State.LockedDaily
    trades_read(again, listed)
    assert again.acct.state is State.Trading, "a lock made on the estimate kept past its read"


def test_an_estimate_lock_on_a_real_loss_holds_at_the_trades_read() -> None:
    """The fall was a trade's loss made while down: the trades read releases the estimate's
    lock and the exact books lock again (the release never opens a real breach)."""
    again, listed = estimate_locked_then_restarted()
    start_listed(again)
    t = again.acct.day.start + timedelta(minutes=1)
    lost = (
        fill(MNQ, Side.BUY, 1, "21000", order_id=20, trade_id=120, at=t),
        fill(MNQ, Side.SELL, 1, "20500", pnl="-1000", order_id=21, trade_id=121, at=t),
    )
    trades_read(again, (*listed, *lost))
    assert again.acct.day.realized == Decimal("-1000")
    assert again.acct.state is State.LockedDaily
    assert ESTIMATED not in again.acct.holds["RULE-003"].detail  # (judged on the exact books)
