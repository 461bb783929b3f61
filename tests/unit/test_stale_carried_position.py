"""Found by a hunt: a position carried across the reset at a loss whose quote then went quiet
(stale) gave the new day's loss limit false room. The rule left the stale position's whole
loss since its entry out of the day's P&L, while the carry of that same loss stayed taken off
it: the day read the carried loss back as a gain, and the quiet contract, which had done
nothing since the reset, blinded the limit to a loss made elsewhere by the carried amount.

Long 2 MNQ @21,000, at 20,900 (-$400) when the 17:00 reset carries it; no fresh MNQ quote
after the reset (stale after 30 s). The trader buys 1 MES @6,000 at 17:01; MES falls to 5,800:
-$1,000 today, at a $1,000 limit. It flattened only at -$1,400."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fsm_risk.core.events import Side
from fsm_risk.core.states import State
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from tests.factories import MES, MNQ, fill, flat, position, quote, rule_driver

MON_RESET = datetime(2026, 11, 23, 23, 0, tzinfo=UTC)  # Monday 17:00 CST


def _carried_at_a_loss():  # type: ignore[no-untyped-def]
    d = rule_driver(DailyLossLimit, now=MON_RESET - timedelta(minutes=10), limit="1000")
    d.send(
        fill(MNQ, Side.BUY, 2, "21000", order_id=1, at=d.now),
        position(MNQ, 2, "21000", at=d.now),
        quote(MNQ, "20900", at=d.now),
    )
    d.at(MON_RESET)  # the reset carries -$400
    assert d.acct.day.carry == -400
    return d


def test_a_stale_carried_loss_is_no_room_for_a_fresh_loss() -> None:
    d = _carried_at_a_loss()
    d.now = MON_RESET + timedelta(minutes=1)  # MNQ's last quote 11 minutes old: stale
    d.send(
        fill(MES, Side.BUY, 1, "6000", order_id=2, at=d.now),
        position(MES, 1, "6000", at=d.now),
        quote(MES, "5900", at=d.now),
    )
    d.now += timedelta(seconds=5)
    d.send(quote(MES, "5805", at=d.now))  # -$975 today on MES, MNQ unchanged since the reset
    assert d.acct.state is State.Trading
    d.send(quote(MES, "5800", at=d.now))  # -$1,000 today
    assert d.acct.day_pnl(with_unrealized=True) == -1000
    assert d.acct.state is not State.Trading, "the carried -$400 counted as room"


def test_a_stale_position_opened_since_the_reset_carries_nothing() -> None:
    """The carried MNQ sold after the reset and bought again: the new position's loss at a
    quiet quote is still left out (a stale quote is never the reason the limit fires), not
    offset by what the reset carried of the old one."""
    d = _carried_at_a_loss()
    d.now = MON_RESET + timedelta(minutes=1)
    d.send(
        quote(MNQ, "20900", at=d.now),
        fill(MNQ, Side.SELL, 2, "20900", order_id=2, at=d.now, pnl="-400"),
        flat(MNQ, at=d.now),
    )
    d.now += timedelta(seconds=1)
    d.send(
        fill(MNQ, Side.BUY, 2, "20900", order_id=3, at=d.now),
        position(MNQ, 2, "20900", at=d.now),
        quote(MNQ, "20750", at=d.now),  # -$600 on the new position
    )
    assert d.acct.day_pnl(with_unrealized=True) == -600
    d.now += timedelta(minutes=1)  # MNQ quiet since: stale
    d.send(
        fill(MES, Side.BUY, 1, "6000", order_id=4, at=d.now),
        position(MES, 1, "6000", at=d.now),
        quote(MES, "5860", at=d.now),  # -$700 on MES
    )
    assert d.acct.day_pnl(with_unrealized=True) == -1300
    assert d.acct.state is State.Trading, "MES's -$700 alone: MNQ's -$600 is at a stale quote"
    d.send(quote(MES, "5790", at=d.now))  # -$1,050 on MES alone
    assert d.acct.state is not State.Trading
