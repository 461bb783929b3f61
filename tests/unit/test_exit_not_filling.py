"""Found by a review of the reduce order that waits for the trader's own exit: a market exit of
his that does not fill (a halted market, an order the gateway parks) drew the whole cut of a
position limit onto its position, and the account stayed over its limit behind it.

RULE-001 limit 5: long 1 ES, his market sale of 1 ES working, ES not trading; he buys 5 NQ (6
open). The cut went to ES (its close held back by his exit, then sent, and not filling either)
and counted ES as reduced to 0: 6 open after 300 s; the first action was a read at 10 s. Now his
exit counts as taking ES off only while young (`rules.exits.YOUNG`, 3 s), then the excess is cut
largest first (NQ, which trades). A roll whose exit fills at once still keeps the new month
(tests/unit/test_roll_at_the_limit.py)."""

from __future__ import annotations

import itertools

import pytest

from fsm_risk.core.effects import CancelOrder, ClosePosition, ReadAccount, ReducePosition
from fsm_risk.core.events import EnforcementAccepted, OrderStatus, OrderType, Side
from fsm_risk.rules.exits import YOUNG
from fsm_risk.rules.max_contracts import MaxContracts
from fsm_risk.rules.max_contracts_per_instrument import MaxContractsPerInstrument
from tests.factories import (
    ACC,
    ES,
    MNQ,
    MNQ_H27,
    NQ,
    Driver,
    account,
    fill,
    gateway_read,
    make_engine,
    order,
    position,
    quote,
)

MARKET = OrderType.MARKET


def _cuts(out: list, t: int) -> list[tuple[int, str, str, int]]:
    return [
        (t, type(e).__name__, e.contract_id, getattr(e, "size", 0))
        for e in out
        if isinstance(e, (ClosePosition, ReducePosition))
    ]


def _es_exit_then_nq() -> tuple[Driver, list]:
    """Limit 5; long 1 ES, his market sale of it working; then 5 NQ bought: 6 open."""
    d = Driver(make_engine({MaxContracts: {"limit": "5"}}))
    d.send(account(), quote(ES, "6000"), quote(NQ, "21000"))
    d.send(fill(ES, Side.BUY, 1, "6000", order_id=11), position(ES, 1, "6000"))
    d.send(order(21, ES, Side.SELL, 1, type=MARKET, status=OrderStatus.OPEN))
    return d, d.send(fill(NQ, Side.BUY, 5, "21000", order_id=22), position(NQ, 5, "21000"))


def test_an_exit_not_filling_leaves_the_cut_to_the_largest_position_once_it_ages() -> None:
    d, out = _es_exit_then_nq()
    cuts = _cuts(out, 0)
    for t in range(1, 11):
        cuts += _cuts(d.advance(seconds=1), t)
    young = int(YOUNG.total_seconds())
    assert cuts and cuts[0] == (young, "ReducePosition", NQ, 1), cuts


def test_a_halted_contract_does_not_keep_the_account_over_its_limit() -> None:
    """ES does not trade: his exit and any close of ours there stay working; NQ trades. Every
    read is answered at once. After 300 s the account holds at most 5."""
    d, out = _es_exit_then_nq()
    working = {21}  # order ids working in ES (nothing fills there)
    nq, ours = 5, 900

    def gateway(out: list, t: int) -> None:
        nonlocal nq, ours
        for e in out:
            if isinstance(e, (ClosePosition, ReducePosition)) and e.contract_id == ES:
                ours += 1
                working.add(ours)
                d.send(EnforcementAccepted(ACC, ES, ours))
                d.send(order(ours, ES, Side.SELL, 1, type=MARKET))
            elif isinstance(e, ReducePosition) and e.contract_id == NQ:
                nq -= e.size
                d.send(
                    fill(NQ, Side.SELL, e.size, "21000", pnl="0", order_id=800 + t),
                    position(NQ, nq, "21000"),
                )
            elif isinstance(e, CancelOrder) and e.order_id in working:
                working.discard(e.order_id)
                d.send(
                    order(e.order_id, ES, Side.SELL, 1, type=MARKET, status=OrderStatus.CANCELLED)
                )

    gateway(out, 0)
    for t in range(1, 301):
        out = d.advance(seconds=1)
        d.send(quote(NQ, "21000", at=d.now))  # (ES halted: no quotes)
        gateway(out, t)
        if any(isinstance(e, ReadAccount) for e in out):
            listed = [order(i, ES, Side.SELL, 1, type=MARKET) for i in sorted(working)]
            gateway(gateway_read(d, *listed, position(ES, 1, "6000"), position(NQ, nq, "21000")), t)
    assert 1 + nq <= 5, f"1 ES + {nq} NQ open after 300 s on a limit of 5"


def test_his_exit_cancelled_while_young_has_the_excess_cut_at_once() -> None:
    d, out = _es_exit_then_nq()
    assert not _cuts(out, 0), _cuts(out, 0)  # his exit takes ES off: 5 once it fills
    out = d.send(order(21, ES, Side.SELL, 1, type=MARKET, status=OrderStatus.CANCELLED))
    assert _cuts(out, 0) == [(0, "ReducePosition", NQ, 1)], _cuts(out, 0)


def _mnq(limit: int = 3) -> Driver:
    d = Driver(make_engine({MaxContractsPerInstrument: {"limits": f"MNQ: {limit}"}}))
    d.send(account(), quote(MNQ, "21000"), quote(MNQ_H27, "21100"))
    d.send(fill(MNQ, Side.BUY, 3, "21000", order_id=11), position(MNQ, 3, "21000"))
    return d


def test_a_reversal_roll_is_cut_when_his_sale_fills() -> None:
    """MNQ: 3. Long 3 Z26; he sells 6 Z26 at market (to short 3) and buys 3 H27 (filled
    first); his sale fills: short 3 Z26 + long 3 H27, 6 on a limit of 3. Cut then, not at the
    close timeout (10 s) after."""
    d = _mnq()
    d.send(order(21, MNQ, Side.SELL, 6, type=MARKET, status=OrderStatus.OPEN))
    out = d.send(fill(MNQ_H27, Side.BUY, 3, "21100", order_id=22), position(MNQ_H27, 3, "21100"))
    assert not _cuts(out, 0), _cuts(out, 0)  # his sale takes the 3 Z26 off
    d.send(order(21, MNQ, Side.SELL, 6, type=MARKET, status=OrderStatus.FILLED))
    d.send(fill(MNQ, Side.SELL, 6, "21000", pnl="0", order_id=21))
    out = d.send(position(MNQ, 3, "21000", long=False))
    # (a tie: the nearer month, his short of Z26)
    assert _cuts(out, 0) == [(0, "ClosePosition", MNQ, 0)], _cuts(out, 0)


def test_a_roll_into_more_than_the_limit_cuts_only_the_new_months_excess() -> None:
    """MNQ: 3. Long 3 Z26, his sale of them working; he buys 5 H27: once his sale fills the
    root holds 5, so 2 H27 are cut at once and Z26 is left to his exit."""
    d = _mnq()
    d.send(order(21, MNQ, Side.SELL, 3, type=MARKET, status=OrderStatus.OPEN))
    out = d.send(fill(MNQ_H27, Side.BUY, 5, "21100", order_id=22), position(MNQ_H27, 5, "21100"))
    assert [c[2:] for c in _cuts(out, 0)] == [(MNQ_H27, 2)], _cuts(out, 0)


@pytest.mark.parametrize("arrival", list(itertools.permutations(range(3))))
def test_a_roll_keeps_the_new_month_whatever_order_his_exits_words_come_in(
    arrival: tuple[int, ...],
) -> None:
    """MNQ: 3. Long 3 Z26, his sale of them working, 3 H27 bought and filled first; his sale
    fills at once: its order's final word, its fill and the position may come in any order,
    and time passes. Nothing is closed (every effect of every event counted): not H27, his new
    month, nor Z26, which his sale takes off (before, when the order's final word came before
    its fill, a close of ours went for Z26, a position his fill was already taking flat)."""
    d = _mnq()
    d.send(order(21, MNQ, Side.SELL, 3, type=MARKET, status=OrderStatus.OPEN))
    cuts = _cuts(d.send(fill(MNQ_H27, Side.BUY, 3, "21100", order_id=22)), 0)
    cuts += _cuts(d.send(position(MNQ_H27, 3, "21100")), 0)
    words = [
        order(21, MNQ, Side.SELL, 3, type=MARKET, status=OrderStatus.FILLED),
        fill(MNQ, Side.SELL, 3, "21000", pnl="0", order_id=21),
        position(MNQ, 0, "0"),
    ]
    for i in arrival:
        cuts += _cuts(d.send(words[i]), 0)
    for t in range(1, 31):
        cuts += _cuts(d.advance(seconds=1), t)
    assert not cuts, cuts


def test_a_position_heard_ahead_of_his_exits_fill_is_not_counted_twice() -> None:
    """MNQ: 3. Long 3 Z26, his sale of 1 working, 1 H27 bought (3 once it fills). The sale's
    final word comes, then the gateway's position (Z26 2) ahead of its fill, then he buys 2
    more H27: 5 held, 2 over. Both are cut (the position already holds his sale: it is not
    taken off it again)."""
    d = _mnq()
    d.send(order(21, MNQ, Side.SELL, 1, type=MARKET, status=OrderStatus.OPEN))
    cuts = _cuts(d.send(fill(MNQ_H27, Side.BUY, 1, "21100", order_id=22)), 0)
    cuts += _cuts(d.send(position(MNQ_H27, 1, "21100")), 0)
    cuts += _cuts(d.send(order(21, MNQ, Side.SELL, 1, type=MARKET, status=OrderStatus.FILLED)), 0)
    cuts += _cuts(d.send(position(MNQ, 2, "21000")), 0)
    assert not cuts, cuts
    cuts += _cuts(d.send(fill(MNQ_H27, Side.BUY, 2, "21100", order_id=23)), 0)
    cuts += _cuts(d.send(position(MNQ_H27, 3, "21100")), 0)
    assert sum(c[3] for c in cuts if c[1] == "ReducePosition") == 2, cuts
