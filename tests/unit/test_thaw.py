"""The engine woken from a freeze of the service (`core.thaw`): deadline rules wait for the
account's read; the resets passed while frozen carry the open P&L at the gateway's price at them."""

from __future__ import annotations

from datetime import timedelta

from fsm_risk import config
from fsm_risk.core import thaw
from fsm_risk.core.events import OrderType, Side, Tick
from fsm_risk.core.states import State
from fsm_risk.replay import THAW, THAWED, Entry, replay_exact
from fsm_risk.replay_sources import RecordedSettings
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from fsm_risk.rules.position_hold_time import PositionHoldTime
from fsm_risk.rules.stop_loss_required import StopLossRequired
from tests.factories import (
    ACC,
    MNQ,
    T0,
    D,
    Driver,
    account,
    closes,
    flat,
    gateway_read,
    order,
    position,
    quote,
    rule_driver,
)

S = timedelta(seconds=1)


def _frozen_past_the_grace() -> Driver:
    """Long 2 MNQ (a 10 s grace for its stop), seen; frozen from 2 s after to 14 s after."""
    d = rule_driver(StopLossRequired, T0, grace_seconds="10")
    d.send(position(MNQ, 2, "21000"))
    d.now = T0 + 14 * S
    d.effects.extend(thaw.resumed(d.engine, T0 + 2 * S, {}, d.now))
    d.advance(seconds=0)
    return d


def test_a_stop_placed_within_the_grace_while_frozen_is_heard_before_the_grace_judges() -> None:
    d = _frozen_past_the_grace()
    assert closes(d.effects) == []  # the deadline passed: it waits for the read
    d.send(order(7, MNQ, Side.SELL, 2, type=OrderType.STOP, stop="20980", at=T0 + 3 * S))
    out = thaw.thawed(d.engine, [d.acc], d.now)
    assert closes(d.effects + out) == []
    assert d.engine.book.thawing == {}


def test_the_grace_judges_once_the_account_is_read_again_after_a_freeze() -> None:
    d = _frozen_past_the_grace()
    out = thaw.thawed(d.engine, [d.acc], d.now)
    assert [c.contract_id for c in closes(out)] == [MNQ]


def _across_the_reset(at_reset: str, after: str) -> Driver:
    """Long 2 MNQ at 21,000 (a $500 daily loss limit), last quoted at 21,000 25 s before the
    daily reset; frozen until 15 s after it; the gateway's price at the reset ``at_reset``,
    MNQ at ``after`` at the wake; the account read again."""
    cal = rule_driver(DailyLossLimit, T0, limit="500").engine.calendar
    reset = cal.next_daily_reset(T0)
    d = rule_driver(DailyLossLimit, reset - 60 * S, limit="500")
    d.send(position(MNQ, 2, "21000", at=d.now), quote(MNQ, "21000", d.now))
    d.now = reset - 25 * S
    d.send(quote(MNQ, "21000", d.now))
    since, d.now = d.now, reset + 15 * S
    wanted = thaw.passed(d.engine, d.now)
    assert wanted == [(reset, MNQ)]
    d.effects.extend(thaw.resumed(d.engine, since, {reset: {MNQ: D(at_reset)}}, d.now))
    d.send(quote(MNQ, after, d.now))
    gateway_read(d, position(MNQ, 2, "21000", at=reset - 60 * S))
    d.effects.extend(thaw.thawed(d.engine, [d.acc], d.now))
    assert d.acct.day.start == reset
    return d


def test_a_reset_passed_while_frozen_carries_the_gain_at_the_reset() -> None:
    """Up $600 at the reset, back to 21,000 at the wake: the new day is at -$600."""
    d = _across_the_reset("21150", "21000")
    assert d.acct.day.carry == D(600)
    assert [c.contract_id for c in closes(d.effects)] == [MNQ]
    assert d.acct.state is State.LockedDaily or d.acct.state is State.Flattening


def test_a_reset_passed_while_frozen_carries_the_loss_at_the_reset() -> None:
    """Down $600 at the reset and still there at the wake: the new day is at nothing."""
    d = _across_the_reset("20850", "20850")
    assert d.acct.day.carry == D(-600)
    assert closes(d.effects) == []
    assert d.acct.state is State.Trading


def test_a_journaled_freeze_replays_as_it_was_handled() -> None:
    """The freeze and the read after it are journaled calls: the replay holds the grace's
    close until the read, as the service did."""
    settings = config.parse("[rule.stop_loss_required]\ngrace_seconds = 10\n")
    recorded = RecordedSettings(settings)
    wake = T0 + 14 * S
    entries = [
        Entry(T0, ACC, account()),
        Entry(T0, ACC, position(MNQ, 2, "21000")),
        Entry(wake, None, None, THAW, ((T0 + 2 * S).isoformat(), {})),
        Entry(wake, ACC, Tick()),
    ]
    held = replay_exact(entries, recorded)
    assert closes(held.effects) == []
    read = Entry(wake + S, None, None, THAWED, ([ACC],))
    judged = replay_exact([*entries, read], recorded)
    assert [c.contract_id for c in closes(judged.effects)] == [MNQ]


def test_a_position_closed_by_the_trader_while_frozen_past_its_hold_limit_is_not_closed() -> None:
    """RULE-009, 1 minute: the trader closed his position at 50 s, while the service slept
    from 30 s to 90 s; at the wake the limit has passed, the flat not yet heard."""
    d = rule_driver(PositionHoldTime, T0, limit_minutes="1")
    d.send(position(MNQ, 2, "21000"))
    d.now = T0 + 90 * S
    d.effects.extend(thaw.resumed(d.engine, T0 + 30 * S, {}, d.now))
    d.advance(seconds=0)
    assert closes(d.effects) == []
    d.send(flat(MNQ, at=T0 + 50 * S))
    d.effects.extend(thaw.thawed(d.engine, [d.acc], d.now))
    assert closes(d.effects) == []
