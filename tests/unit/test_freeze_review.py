"""Found by a review of the freeze's hold (`core.thaw`): RULE-001/002 were held with the
deadline rules (a size breach made while frozen waited for the read after the wake), and a
second freeze during the reads was released by the first freeze's read (RULE-016 closed a
position whose stop came in the second freeze)."""

from __future__ import annotations

from datetime import timedelta

from fsm_risk.core import thaw
from fsm_risk.core.effects import ClosePosition, ReducePosition
from fsm_risk.core.events import OrderType, Side, Tick
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from fsm_risk.rules.max_contracts import MaxContracts
from fsm_risk.rules.stop_loss_required import StopLossRequired
from tests.factories import MNQ, T0, D, closes, order, position, quote, rule_driver

S = timedelta(seconds=1)


def _cuts(effects: list) -> list:
    return [e for e in effects if isinstance(e, ClosePosition | ReducePosition)]


def test_a_size_breach_made_while_frozen_is_cut_at_the_wake() -> None:
    """RULE-001 limit 5: the trader bought 10 MNQ while the service slept; heard at the wake.
    A size limit is no deadline: it must be cut at once, as without a freeze."""
    d = rule_driver(MaxContracts, T0, limit="5")
    d.now = T0 + 10 * S
    d.effects.extend(thaw.resumed(d.engine, T0 + 2 * S, {}, d.now))
    out = d.send(position(MNQ, 10, "21000", at=T0 + 5 * S))
    assert _cuts(out), "10 MNQ open on a limit of 5, heard at the wake: not cut"


def test_a_size_breach_without_a_freeze_is_cut_at_once() -> None:
    """The control: the same position heard without a freeze is cut."""
    d = rule_driver(MaxContracts, T0, limit="5")
    d.now = T0 + 10 * S
    out = d.send(position(MNQ, 10, "21000", at=T0 + 5 * S))
    assert _cuts(out)


def test_a_size_breach_after_the_wake_during_the_reads_is_cut_at_once() -> None:
    """A false freeze (the loop stalled 4 s); 5 s later, while the accounts are still being
    read (15 s cap), the trader buys 10 MNQ on a limit of 5."""
    d = rule_driver(MaxContracts, T0, limit="5")
    d.now = T0 + 4 * S
    d.effects.extend(thaw.resumed(d.engine, T0, {}, d.now))
    d.now = T0 + 9 * S
    out = d.send(position(MNQ, 10, "21000", at=d.now))
    assert _cuts(out), "10 MNQ bought after the wake on a limit of 5: not cut"


def test_a_second_freeze_during_the_reads_is_not_released_by_the_first_read() -> None:
    """RULE-016 grace 10 s. Freeze 1 (T0+1..T0+5); its reads start. The trader buys 2 MNQ at
    T0+6 (heard); freeze 2 from T0+7 to T0+20 during which he places his stop at T0+8. At the
    wake the first freeze's read completes (its `_Thawed`, which names accounts, not the
    freeze it answers) before the second's read and before the buffered stop is applied."""
    d = rule_driver(StopLossRequired, T0, grace_seconds="10")
    d.now = T0 + 5 * S
    d.effects.extend(thaw.resumed(d.engine, T0 + 1 * S, {}, d.now))
    d.now = T0 + 6 * S
    d.send(position(MNQ, 2, "21000", at=d.now))
    d.now = T0 + 20 * S
    d.effects.extend(thaw.resumed(d.engine, T0 + 7 * S, {}, d.now))
    d.effects.extend(thaw.thawed(d.engine, [d.acc], d.now, T0 + 1 * S))  # freeze 1's read
    d.send(order(7, MNQ, Side.SELL, 2, type=OrderType.STOP, stop="20980", at=T0 + 8 * S))
    assert closes(d.effects) == [], "a stop placed within the grace in freeze 2: closed"
    d.effects.extend(thaw.thawed(d.engine, [d.acc], d.now, T0 + 7 * S))  # freeze 2's read
    assert closes(d.effects) == [] and d.engine.book.thawing == {}


def _stall_across_the_reset(thawed: bool) -> list:
    """Long 2 MNQ (daily loss 500), quoted at 21,000 up to 2 s before the daily reset; the loop
    stalls 4 s across it (a false freeze) and the account's trades are not read yet (at 500
    accounts they wait in the read budget); at the wake MNQ falls to 20,850 (-$600 on the
    new day, whose price at the reset was 21,000)."""
    cal = rule_driver(DailyLossLimit, T0, limit="500").engine.calendar
    reset = cal.next_daily_reset(T0)
    d = rule_driver(DailyLossLimit, reset - 60 * S, limit="500")
    d.send(position(MNQ, 2, "21000", at=d.now), quote(MNQ, "21000", d.now))
    d.now = reset - 2 * S
    d.send(quote(MNQ, "21000", d.now))
    since, d.now = d.now, reset + 2 * S
    if thawed:
        d.effects.extend(thaw.resumed(d.engine, since, {reset: {MNQ: D("21000")}}, d.now))
    else:
        d.advance(seconds=0)
    for i in range(60):  # a minute of quotes at -$600 on the new day
        d.now = reset + (3 + i) * S
        d.send(quote(MNQ, "20850", d.now))
    return closes(d.effects)


def test_a_journaled_second_freeze_replays_its_own_read() -> None:
    """Replayed: the first freeze's read (journaled with its freeze) does not release the
    second's hold; the second's read does."""
    from fsm_risk import config
    from fsm_risk.replay import THAW, THAWED, Entry, replay_exact
    from fsm_risk.replay_sources import RecordedSettings
    from tests.factories import ACC, account

    recorded = RecordedSettings(config.parse("[rule.stop_loss_required]\ngrace_seconds = 10\n"))
    first, second = T0 + 1 * S, T0 + 7 * S
    entries = [
        Entry(T0, ACC, account()),
        Entry(T0 + 6 * S, ACC, position(MNQ, 2, "21000", at=T0 + 6 * S)),
        Entry(T0 + 20 * S, None, None, THAW, (second.isoformat(), {})),
        Entry(T0 + 20 * S, None, None, THAWED, ([ACC], first.isoformat())),
        Entry(T0 + 20 * S, ACC, Tick()),
    ]
    assert closes(replay_exact(entries, recorded).effects) == []
    read = Entry(T0 + 21 * S, None, None, THAWED, ([ACC], second.isoformat()))
    assert [c.contract_id for c in closes(replay_exact([*entries, read], recorded).effects)] == [
        MNQ
    ]
