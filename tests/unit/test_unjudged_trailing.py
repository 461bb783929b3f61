"""Trailing drawdown (RULE-004) on a restarted account whose trades cannot be read: past the
grace it judges equity as the balance listed after the subscription plus the open P&L against
its stored peak (`unjudged.listed`), fails closed like the period rules, never on a win left
out, and its lock made so ends when the trades are read. Before, it waited for the trades for
as long as their read failed: a -$1,200 loss while down beside a $1,000 drawdown stayed open."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from fsm_risk.core.effects import ClosePosition
from fsm_risk.core.events import Listing, Side, Tick, TradesSnapshot
from fsm_risk.core.states import State
from fsm_risk.core.unjudged import ESTIMATED, GRACE
from fsm_risk.rules.trailing_drawdown import TrailingDrawdown
from tests.factories import ACC, MNQ, T0, Driver, account, fill, make_engine, position, quote

EARLIER = T0 - timedelta(minutes=10)
BOUGHT = fill(MNQ, Side.BUY, 2, "21000", order_id=1, trade_id=101, at=EARLIER)
PAST = GRACE + timedelta(seconds=1)
FAILED = Tick(ACC, unread=True)
RULE = {"drawdown": "1000", "mode": "intraday", "starting_balance": "50000"}


def restarted(listed: str) -> Driver:
    """Long 2 MNQ at 21000, $50,000, peak $50,000 (floor $49,000); the restart's enforcing
    step lists ``listed``; a read of the trades fails."""
    d = Driver(make_engine({TrailingDrawdown: RULE}))
    d.send(account("50000"), BOUGHT, position(MNQ, 2, "21000"), quote(MNQ, "21000"))
    held = frozenset({MNQ})
    d.send(
        Listing(
            ACC,
            held,
            frozenset(),
            held,
            frozenset(),
            frozenset({101}),
            behind=True,
            listed=Decimal(listed),
        ),
        position(MNQ, 2, "21000"),
        quote(MNQ, "21000"),
        FAILED,
    )
    return d


def closes(effects: list[object]) -> list[str]:
    return [e.contract_id for e in effects if isinstance(e, ClosePosition)]


def test_a_loss_while_down_through_the_floor_is_closed_past_the_grace() -> None:
    d = restarted("48800.00")  # -$1,200 while down: equity 48,800 <= floor 49,000
    assert d.acct.behind is not None and not d.acct.behind.settled
    assert d.acct.state is State.Trading  # (the grace: a working read lands within it)
    d.now += PAST
    out = d.send(quote(MNQ, "21000", at=d.now))
    assert (d.acct.state, closes(out)) == (State.Flattening, [MNQ]), d.acct.holds
    hold = d.acct.holds["RULE-004"]
    assert ESTIMATED in hold.detail and "48800.00" in hold.detail, hold.detail


def test_a_win_while_down_is_counted_no_false_lock() -> None:
    """+$200 while down, then -$1,100 open: the stored balance alone (48,900) would touch the
    floor; the listed one (49,100) does not."""
    d = restarted("50200.00")
    d.now += PAST
    out = d.send(quote(MNQ, "20725", at=d.now))  # 275 points x $4 = -$1,100
    assert d.acct.open_upnl == -1100
    assert d.acct.state is State.Trading and not closes(out)
    out = d.send(quote(MNQ, "20675", at=d.now))  # -$1,300: 48,900 with the win
    assert d.acct.state is State.Flattening and closes(out) == [MNQ]


def test_its_peak_does_not_rise_on_the_estimate() -> None:
    d = restarted("48800.00")
    d.now += PAST
    d.send(quote(MNQ, "21700", at=d.now))  # +$2,800 open: 51,600 with the loss, 52,800 without
    assert d.acct.rule_state["RULE-004"]["peak"] == "50000"


def test_the_lock_made_on_the_estimate_ends_when_the_trades_are_read() -> None:
    """The trades read show no loss (the balance fell by a payout, say): the lock ends."""
    d = restarted("48800.00")
    d.now += PAST
    d.send(quote(MNQ, "21000", at=d.now))
    assert d.acct.state is State.Flattening
    d.send(TradesSnapshot(ACC, T0 - timedelta(days=1), (BOUGHT,), frozenset({101}), frozenset()))
    assert d.acct.behind is None
    assert d.acct.holds["RULE-004"].until is not None and d.acct.holds["RULE-004"].until <= d.now
