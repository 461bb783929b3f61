"""Found by a review of the young market exits in RULE-001/002 (5b0e4b1): an exit replaced
every 2 s in a halt, or a halted position larger than the new one, kept the account over its
limit; a roll whose exit filled after 4 s lost its new month. Each test asserts the fix."""

from __future__ import annotations

from fsm_risk.core.effects import CancelOrder, ClosePosition, ReadAccount, ReducePosition
from fsm_risk.core.events import EnforcementAccepted, OrderStatus, OrderType, Side
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


def _cuts(out: list, t: float) -> list[tuple[float, str, str, int]]:
    return [
        (t, type(e).__name__, e.contract_id, getattr(e, "size", 0))
        for e in out
        if isinstance(e, (ClosePosition, ReducePosition))
    ]


def _setup(es: int, nq: int) -> tuple[Driver, list]:
    """Limit 5; long ``es`` ES, his market sale of them working (ES halted); ``nq`` NQ bought."""
    d = Driver(make_engine({MaxContracts: {"limit": "5"}}))
    d.send(account(), quote(ES, "6000"), quote(NQ, "21000"))
    d.send(fill(ES, Side.BUY, es, "6000", order_id=11), position(ES, es, "6000"))
    d.send(order(21, ES, Side.SELL, es, type=MARKET, status=OrderStatus.OPEN))
    out = d.send(fill(NQ, Side.BUY, nq, "21000", order_id=22), position(NQ, nq, "21000"))
    return d, out


def _halted_gateway(d: Driver, es: int, nq: int, working: set[int], resend: bool, secs: int):
    """ES fills nothing; NQ fills at once; every read answered. With ``resend`` the trader
    replaces his ES exit every 2 s (new one sent, then the old cancelled). Returns NQ left."""
    ours = 900
    nxt = 100
    state = {"nq": nq}

    def gateway(out: list, t: int) -> None:
        nonlocal ours
        for e in out:
            if isinstance(e, (ClosePosition, ReducePosition)) and e.contract_id == ES:
                ours += 1
                working.add(ours)
                d.send(EnforcementAccepted(ACC, ES, ours))
                d.send(order(ours, ES, Side.SELL, e.size or es, type=MARKET))
            elif isinstance(e, (ClosePosition, ReducePosition)) and e.contract_id == NQ:
                cut = getattr(e, "size", None) or state["nq"]
                state["nq"] -= cut
                d.send(
                    fill(NQ, Side.SELL, cut, "21000", pnl="0", order_id=800 + t),
                    position(NQ, state["nq"], "21000"),
                )
            elif isinstance(e, CancelOrder) and e.order_id in working:
                working.discard(e.order_id)
                d.send(
                    order(e.order_id, ES, Side.SELL, es, type=MARKET, status=OrderStatus.CANCELLED)
                )

    cuts: list = []
    for t in range(1, secs + 1):
        out = d.advance(seconds=1)
        cuts += _cuts(out, t)
        d.send(quote(NQ, "21000", at=d.now))
        gateway(out, t)
        if resend and t % 2 == 0:
            his = sorted(i for i in working if i < 900)
            nxt += 1
            working.add(nxt)
            o1 = d.send(order(nxt, ES, Side.SELL, es, type=MARKET, status=OrderStatus.OPEN))
            cuts += _cuts(o1, t)
            gateway(o1, t)
            for old in his:
                working.discard(old)
                o2 = d.send(
                    order(old, ES, Side.SELL, es, type=MARKET, status=OrderStatus.CANCELLED)
                )
                cuts += _cuts(o2, t)
                gateway(o2, t)
        if any(isinstance(e, ReadAccount) for e in out):
            listed = [order(i, ES, Side.SELL, es, type=MARKET) for i in sorted(working)]
            gateway(
                gateway_read(
                    d, *listed, position(ES, es, "6000"), position(NQ, state["nq"], "21000")
                ),
                t,
            )
    return state["nq"], cuts


def test_his_exit_replaced_every_2s_in_a_halt_does_not_keep_the_account_over() -> None:
    """Limit 5: 1 ES (halted, his sale working) + 5 NQ. He replaces his ES sale every 2 s
    (a new market sale, then the old one cancelled): each new one is young, so ES counts 0
    and NQ is never cut. Must: 1 NQ cut by ~3 s, as when he leaves his first sale alone."""
    d, _ = _setup(1, 5)
    nq, cuts = _halted_gateway(d, 1, 5, {21}, resend=True, secs=120)
    assert 1 + nq <= 5, f"1 ES + {nq} NQ open after 120 s on a limit of 5; cuts {cuts}"


def test_control_his_exit_left_alone_has_nq_cut() -> None:
    d, _ = _setup(1, 5)
    nq, cuts = _halted_gateway(d, 1, 5, {21}, resend=False, secs=120)
    assert 1 + nq <= 5, f"1 ES + {nq} NQ open after 120 s on a limit of 5; cuts {cuts}"


def test_a_halted_position_larger_than_the_new_one_does_not_keep_the_account_over() -> None:
    """Limit 5: 4 ES (halted, his sale of 4 working) + 2 NQ bought = 6. Once his exit ages,
    the cut goes largest first: to ES, whose close waits behind his exit and cannot fill.
    Must: the account at 5 (1 NQ cut, where it can be), as the fix's docstring says."""
    d, _ = _setup(4, 2)
    nq, cuts = _halted_gateway(d, 4, 2, {21}, resend=False, secs=300)
    assert 4 + nq <= 5, f"4 ES + {nq} NQ open after 300 s on a limit of 5; cuts {cuts[:6]}"


def _roll(limit: int = 3) -> Driver:
    d = Driver(make_engine({MaxContractsPerInstrument: {"limits": f"MNQ: {limit}"}}))
    d.send(account(), quote(MNQ, "21000"), quote(MNQ_H27, "21100"))
    d.send(fill(MNQ, Side.BUY, 3, "21000", order_id=11), position(MNQ, 3, "21000"))
    return d


def test_a_roll_whose_exit_fills_after_4s_keeps_the_new_month() -> None:
    """MNQ: 3. Long 3 Z26, his market sale of them working (a market paused a few seconds:
    it fills at 4 s); he buys 3 H27, filled at once. Must: H27 kept (his sale takes Z26 off;
    a cut of ours, if any, goes to Z26 and waits behind his sale). Our closes fill at once."""
    d = _roll()
    d.send(order(21, MNQ, Side.SELL, 3, type=MARKET, status=OrderStatus.OPEN))
    cuts = _cuts(d.send(fill(MNQ_H27, Side.BUY, 3, "21100", order_id=22)), 0)
    cuts += _cuts(d.send(position(MNQ_H27, 3, "21100")), 0)
    h27 = 3
    for t in range(1, 31):
        out = d.advance(seconds=1)
        cuts += _cuts(out, t)
        for e in out:
            if isinstance(e, (ClosePosition, ReducePosition)) and e.contract_id == MNQ_H27:
                cut = getattr(e, "size", None) or h27
                h27 -= cut
                d.send(EnforcementAccepted(ACC, MNQ_H27, 950 + t))
                d.send(
                    fill(MNQ_H27, Side.SELL, cut, "21100", pnl="0", order_id=950 + t),
                    position(MNQ_H27, h27, "21100"),
                )
        if t == 4:  # his sale fills
            d.send(order(21, MNQ, Side.SELL, 3, type=MARKET, status=OrderStatus.FILLED))
            d.send(fill(MNQ, Side.SELL, 3, "21000", pnl="0", order_id=21))
            d.send(position(MNQ, 0, "0"))
    assert h27 == 3, f"his new month cut to {h27} H27 (Z26 flat by his own sale); cuts {cuts}"
