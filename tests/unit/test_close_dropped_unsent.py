"""A close dropped unsent (no longer wanted when its turn in the request budget came: the
trader's market exit working) is not a try. Found by review: each drop counted as a refused
close, so the next one went as "attempt 3", paged CRITICAL CLOSE_FAILING though no close had
been sent, and had a 40 s close timeout (then the 60 s cap) instead of 10 s."""

from __future__ import annotations

from fsm_risk.core.effects import Alert
from fsm_risk.core.events import CloseWaiting, EnforcementRejected, OrderStatus, Side
from fsm_risk.core.exposure import close_wanted
from fsm_risk.core.reasons import Reason
from tests.factories import ACC, MNQ, Driver, market, reduces
from tests.unit.test_close_answers import limit_3, ms, traded


def _dropped(d: Driver, oid: int, open_after: int) -> None:
    """The reduce in flight waits; his market exit of 1 is seen working at its turn: dropped
    unsent; then his exit fills (still over the limit)."""
    r = reduces(d.effects)[-1]
    d.send(CloseWaiting(ACC, MNQ, r.seq, True))
    ms(d, 2000)
    d.send(market(oid, Side.SELL, 1, OrderStatus.OPEN))  # his exit, working
    assert not close_wanted(d.acct, MNQ, r.seq)
    d.send(EnforcementRejected(ACC, MNQ, None, "not sent", seq=r.seq, sent=False))
    ms(d, 50)
    d.send(*traded(oid, Side.SELL, 1, open_after))  # it fills


def test_closes_dropped_unsent_are_not_counted_as_tries() -> None:
    d = limit_3()
    d.send(*traded(10, Side.BUY, 7, 7))  # over 3 by 4: reduce of 4
    _dropped(d, 81, 6)
    _dropped(d, 82, 5)
    r = reduces(d.effects)[-1]
    paged = [
        a.message
        for a in d.effects
        if isinstance(a, Alert) and a.reason in (Reason.CLOSE_FAILING, Reason.CLOSE_NOT_CONFIRMED)
    ]
    d.send(CloseWaiting(ACC, MNQ, r.seq, True))
    ms(d, 2000)
    d.send(CloseWaiting(ACC, MNQ, r.seq, False))  # this one goes
    cm = d.acct.contracts[MNQ]
    assert cm.retry_at is not None and cm.close_sent_at is not None
    timeout = (cm.retry_at - cm.close_sent_at).total_seconds()
    assert r.attempt == 1 and paged == [] and timeout == 10, (
        f"no close was sent before it, yet it goes as attempt {r.attempt}, its close timeout "
        f"is {timeout:.0f} s, and the trader was paged: {paged}"
    )
