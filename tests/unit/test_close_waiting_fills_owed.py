"""A reduce waiting for the request budget is not sent while fills are owed (the trader's
own exit reported filled, its trade and position on their way). Found by review: long 5
under a limit of 3, our reduce of 2 waited; his market sell of 2 was reported FILLED before
its trade; at its turn the reduce went (the position last heard still 5), and both filled:
long 1. A reduce decided at that moment waited for the fills; the waiting one now does too.
And a trader trimming again and again while reduces wait gets each next reduce sized right."""

from __future__ import annotations

from fsm_risk.core.events import CloseWaiting, EnforcementRejected, OrderStatus, Side
from fsm_risk.core.exposure import close_wanted, fills_owed
from tests.factories import ACC, MNQ, fill, market, position, reduces
from tests.unit.test_close_answers import limit_3, ms, traded


def test_a_waiting_reduce_is_not_wanted_while_his_exits_fills_are_on_their_way() -> None:
    d = limit_3()
    d.send(*traded(10, Side.BUY, 5, 5))
    [r] = reduces(d.effects)
    assert r.size == 2
    d.send(CloseWaiting(ACC, MNQ, r.seq, True))
    ms(d, 3000)
    d.send(market(81, Side.SELL, 2, OrderStatus.FILLED, 2))  # his exit, its trade on its way
    assert fills_owed(d.acct, MNQ)
    assert not close_wanted(d.acct, MNQ, r.seq), (
        "the waiting reduce of 2 is still wanted while his filled exit of 2 is on its way: "
        "both fill, long 1 under a limit of 3"
    )


def test_same_with_his_working_exit_seen_first() -> None:
    """As above, his exit seen working first (then the drop holds), then FILLED before its
    trade: the turn comes between the two records."""
    d = limit_3()
    d.send(*traded(10, Side.BUY, 5, 5))
    [r] = reduces(d.effects)
    d.send(CloseWaiting(ACC, MNQ, r.seq, True))
    ms(d, 1000)
    d.send(market(81, Side.SELL, 2, OrderStatus.OPEN))
    assert not close_wanted(d.acct, MNQ, r.seq)
    ms(d, 5)
    d.send(market(81, Side.SELL, 2, OrderStatus.FILLED, 2))
    assert not close_wanted(d.acct, MNQ, r.seq), "wanted in the gap between FILLED and its trade"


def test_the_trader_keeps_the_3_his_limit_allows() -> None:
    """The same, carried through: the trader keeps the 3 his limit allows."""
    d = limit_3()
    d.send(*traded(10, Side.BUY, 5, 5))
    [r] = reduces(d.effects)
    d.send(CloseWaiting(ACC, MNQ, r.seq, True))
    ms(d, 1000)
    d.send(market(81, Side.SELL, 2, OrderStatus.FILLED, 2))  # his exit, trade on its way
    if close_wanted(d.acct, MNQ, r.seq):
        d.send(CloseWaiting(ACC, MNQ, r.seq, False))  # our reduce of 2 goes
    else:  # dropped at its turn (what the service says when it is not wanted)
        d.send(EnforcementRejected(ACC, MNQ, None, "not sent", seq=r.seq, sent=False))
    ms(d, 10)
    d.send(fill(MNQ, Side.SELL, 2, "21000", pnl="0", order_id=81), position(MNQ, 3, "21000"))
    if r.seq == d.acct.contracts[MNQ].close_seq and d.acct.contracts[MNQ].close_in_flight:
        ms(d, 20)
        d.send(*traded(900, Side.SELL, 2, 1))  # ours fills too
    assert d.acct.positions[MNQ].size == 3, (
        f"long {d.acct.positions[MNQ].size} under a limit of 3: our reduce closed what his "
        "exit already closed"
    )


def test_trader_trims_again_and_again_the_next_reduce_always_goes_sized_right() -> None:
    d = limit_3()
    d.send(*traded(10, Side.BUY, 7, 7))  # over by 4
    open_now = 7
    for i in range(3):
        r = reduces(d.effects)[-1]
        assert r.size == open_now - 3, (i, r.size, open_now)
        d.send(CloseWaiting(ACC, MNQ, r.seq, True))
        ms(d, 2000)
        open_now -= 1
        d.send(*traded(80 + i, Side.SELL, 1, open_now))  # he trims by one
        assert not close_wanted(d.acct, MNQ, r.seq)
        before = len(reduces(d.effects))
        d.send(EnforcementRejected(ACC, MNQ, None, "not sent", seq=r.seq, sent=False))
        assert len(reduces(d.effects)) == before + 1, f"no next reduce after drop {i}"
        assert reduces(d.effects)[-1].attempt == 1
    r = reduces(d.effects)[-1]
    assert close_wanted(d.acct, MNQ, r.seq)
