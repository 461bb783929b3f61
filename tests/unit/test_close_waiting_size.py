"""A reduce waiting for the request budget goes at its turn only if the position is still
over its target by at least the reduce's size. Found by review: long 5 under a limit of 3, a
reduce of 2 waited; the trader sold 1 himself (long 4); the reduce of 2 went and filled at
once (long 2: a contract the rules allow closed). It is dropped, and the next is sized from
what is open then."""

from __future__ import annotations

from fsm_risk.core.events import CloseWaiting, Side
from fsm_risk.core.exposure import close_wanted
from tests.factories import ACC, MNQ, reduces
from tests.unit.test_close_answers import limit_3, ms, traded


def test_a_waiting_reduce_larger_than_what_is_still_over_is_not_sent_whole() -> None:
    d = limit_3()
    d.send(*traded(10, Side.BUY, 5, 5))  # over 3 by 2: reduce of 2 decided (number 1)
    [r] = reduces(d.effects)
    assert r.size == 2
    d.send(CloseWaiting(ACC, MNQ, r.seq, True))  # a full window: it waits
    ms(d, 5000)
    d.send(*traded(81, Side.SELL, 1, 4))  # his own exit of 1 fills: long 4, over by 1 only
    ms(d, 5000)
    pos = d.acct.positions[MNQ]
    over_by = pos.size - pos.settling - d.acct.contracts[MNQ].target_size
    assert over_by == 1
    assert not close_wanted(d.acct, MNQ, r.seq), (
        f"the reduce of {r.size} is still 'wanted' with only {over_by} over the limit: sent, "
        f"it takes long 4 to {pos.size - r.size} under a limit of 3"
    )


def test_the_trader_keeps_what_his_limit_allows() -> None:
    """What follows when it goes: the market reduce fills at once (a withdraw is too late)."""
    d = limit_3()
    d.send(*traded(10, Side.BUY, 5, 5))
    [r] = reduces(d.effects)
    d.send(CloseWaiting(ACC, MNQ, r.seq, True))
    ms(d, 5000)
    d.send(*traded(81, Side.SELL, 1, 4))
    ms(d, 5000)
    if close_wanted(d.acct, MNQ, r.seq):
        d.send(CloseWaiting(ACC, MNQ, r.seq, False))  # it goes
        ms(d, 30)
        d.send(*traded(82, Side.SELL, 2, 2))  # our reduce of 2 fills: long 2
    assert d.acct.positions[MNQ].size >= 3, "the trader left with 2 under a limit of 3"
