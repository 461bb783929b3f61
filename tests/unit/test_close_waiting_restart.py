"""A restart while our close waited for its turn in the request budget does not count it as
a try.

The close was decided and told to wait (`CloseWaiting`): the window was full. The service
stopped before its turn came; at the next start the gateway's read shows the position still
open and no order of ours. Found by review: the close that goes then went as "attempt 2",
with a WARNING that the last one had not been done and twice the close timeout, and two such
restarts paged CRITICAL CLOSE_FAILING with no close ever sent. That a close waits is stored
with it, so the next start knows it had not gone when last saved."""

from __future__ import annotations

from datetime import timedelta

from fsm_risk.core.effects import Alert
from fsm_risk.core.events import CloseWaiting, Side
from fsm_risk.core.reasons import Reason
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from tests.factories import ACC, MNQ, closes, gateway_read, make_engine, position, restart
from tests.unit.test_close_answers import locked, ms, traded


def _rebuild():  # type: ignore[no-untyped-def]
    return make_engine({DailyLossLimit: {"limit": "1000"}})


def _waiting_then_restarted():  # type: ignore[no-untyped-def]
    d = locked()
    d.send(*traded(10, Side.BUY, 7, 7))  # a buy on the locked account: closed
    [c] = closes(d.effects)
    d.send(CloseWaiting(ACC, MNQ, c.seq, True))  # the window is full: it waits
    ms(d, 500)
    d = restart(d, _rebuild)  # stopped before its turn came
    gateway_read(d, position(MNQ, 7, "21000"))  # still 7 open, no order of ours
    d.effects.extend(d.engine.resume(ACC, set(), d.now))
    return d


def test_the_close_that_goes_after_the_restart_is_its_first_try() -> None:
    d = _waiting_then_restarted()
    [again] = closes(d.effects)  # it goes now, once
    cm = d.acct.contracts[MNQ]
    assert cm.attempts == 1, f"counted as attempt {cm.attempts}: the close never went"
    resent = [
        a
        for a in d.effects
        if isinstance(a, Alert) and a.reason in (Reason.CLOSE_NOT_CONFIRMED, Reason.CLOSE_FAILING)
    ]
    assert resent == [], [a.message for a in resent]
    # its timeout is the first close's, not doubled
    assert cm.retry_at == d.now + d.engine.settings.backoff(1)
    assert again.seq == cm.close_seq


def test_restarts_while_it_waits_never_page_it_failing() -> None:
    d = locked()
    d.send(*traded(10, Side.BUY, 7, 7))
    alerts: list[Alert] = []
    for _ in range(4):
        [c] = closes(d.effects)
        d.send(CloseWaiting(ACC, MNQ, c.seq, True))
        ms(d, 500)
        d = restart(d, _rebuild)
        gateway_read(d, position(MNQ, 7, "21000"))
        d.effects.extend(d.engine.resume(ACC, set(), d.now))
        alerts += [a for a in d.effects if isinstance(a, Alert)]
    failing = [a.message for a in alerts if a.reason is Reason.CLOSE_FAILING]
    assert failing == [] and d.acct.contracts[MNQ].attempts == 1


def test_a_close_kept_past_a_flat_that_never_went_is_over_at_the_restart() -> None:
    """Found by a hunt: the close waited for the budget, his own exit took the position flat
    (the close kept in flight past the flat), and the service stopped before its turn came.
    The stored close still said it waits: the next position on the locked account, opened
    within the close timeout, was held back behind it as one "not gone yet" until its bound
    (90 s) instead of being closed once the gateway was read."""
    d = locked()
    d.send(*traded(10, Side.BUY, 5, 5))
    [c] = closes(d.effects)
    d.send(CloseWaiting(ACC, MNQ, c.seq, True))  # the window is full: it waits
    ms(d, 300)
    d.send(*traded(11, Side.SELL, 5, 0))  # his own exit: flat, ours kept past the flat
    ms(d, 300)
    d = restart(d, _rebuild)  # stopped before its turn came: it never went
    ms(d, 2000)
    gateway_read(d)  # flat, nothing working
    d.effects.extend(d.engine.resume(ACC, set(), d.now))
    ms(d, 1000)
    d.send(*traded(12, Side.BUY, 3, 3))  # he buys 3 on the locked account
    bought = d.now
    for _ in range(4):  # each read the engine asks answered at once: 3 open, nothing working
        if closes(d.effects):
            break
        gateway_read(d, position(MNQ, 3, "21000"))
        d.advance(seconds=0.5)
    [again] = closes(d.effects)  # at once, from the read: not held behind one never sent
    assert again.contract_id == MNQ and d.now - bought <= timedelta(seconds=1)
