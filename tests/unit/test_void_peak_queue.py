"""Found by a review: RULE-004's void give-back on the gateway's word with several voids
(queued, each given back in turn), the wait expiring on quotes alone, the read it asks."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from decimal import Decimal

from fsm_risk.core.events import Fill, Side
from fsm_risk.core.states import State
from fsm_risk.rules.trailing_drawdown import TrailingDrawdown
from tests.factories import (
    MNQ,
    Driver,
    account,
    fill,
    flat,
    gateway_read,
    position,
    quote,
    reads,
    the_rule,
    trade_reads,
)
from tests.unit.test_void_peak import driver, peak

D = Decimal


def two_wins(d: Driver) -> tuple[Fill, Fill]:
    """Long 1 MNQ 21,000 -> sold 21,200 (+400); long 1 at 21,200 -> sold 21,400 (+400). Each
    quote after its sell (so equity without the trades never reached above 50,000).
    Flat, balance 50,800, peak 50,800."""
    d.send(quote(MNQ, "21000", at=d.now))
    d.send(
        fill(MNQ, Side.BUY, 1, "21000", order_id=1, at=d.now, trade_id=6000),
        position(MNQ, 1, "21000", at=d.now),
    )
    d.now += timedelta(seconds=1)
    a = fill(MNQ, Side.SELL, 1, "21200", pnl="400", order_id=2, at=d.now, trade_id=6001)
    d.send(a, flat(MNQ, at=d.now), account("50400"), quote(MNQ, "21200", at=d.now))
    assert peak(d) == D("50400")
    d.now += timedelta(seconds=1)
    d.send(
        fill(MNQ, Side.BUY, 1, "21200", order_id=3, at=d.now, trade_id=6002),
        position(MNQ, 1, "21200", at=d.now),
    )
    d.now += timedelta(seconds=1)
    b = fill(MNQ, Side.SELL, 1, "21400", pnl="400", order_id=4, at=d.now, trade_id=6003)
    d.send(b, flat(MNQ, at=d.now), account("50800"), quote(MNQ, "21400", at=d.now))
    assert peak(d) == D("50800")
    return a, b


def voided(f: Fill) -> Fill:
    return dataclasses.replace(f, voided=True)


def lose_300(d: Driver) -> None:
    """A real loss of 300: long 1 MNQ at 21,400 marked at 21,250."""
    d.now += timedelta(seconds=5)
    d.send(quote(MNQ, "21400", at=d.now))
    d.send(
        fill(MNQ, Side.BUY, 1, "21400", order_id=7, at=d.now, trade_id=6010),
        position(MNQ, 1, "21400", at=d.now),
    )
    d.send(quote(MNQ, "21250", at=d.now))


def test_control_two_voids_each_read_gives_both_back() -> None:
    """Control: the two voids a few seconds apart, each answered by its read (paper gateway:
    positions left): peak 50,000; a real -300 (49,700) is 700 under it: trading."""
    d = driver()
    a, b = two_wins(d)
    d.advance(minutes=1)
    out = d.send(voided(a), account("50400"))
    assert reads(out) + trade_reads(out), "a read asked for"
    d.advance(seconds=1)
    gateway_read(d, account("50400"))
    assert peak(d) == D("50400")
    d.advance(seconds=5)
    out = d.send(voided(b), account("50000"))
    assert reads(out) + trade_reads(out), "a read asked for"
    d.advance(seconds=1)
    gateway_read(d, account("50000"))
    assert peak(d) == D("50000")
    lose_300(d)
    assert d.acct.equity == D("49700") and d.acct.state is State.Trading


def test_two_voids_heard_together_are_each_given_back() -> None:
    """The firm voids both trades at once (its records a moment apart, before the first
    read answers), the positions left (the paper gateway's way, and what the read confirms):
    the peak keeps both wins, 50,800, with equity never above 50,000 without them. A real
    -300 (49,700) flattens and locks the week. It must trade on (peak 50,000, as the
    control)."""
    d = driver()
    a, b = two_wins(d)
    d.advance(minutes=1)
    out = d.send(voided(a), account("50400")) + d.send(voided(b), account("50000"))
    assert trade_reads(out), "the voids ask no read"
    d.advance(seconds=1)
    gateway_read(d, account("50000"))
    lose_300(d)
    assert d.acct.state is State.Trading, f"false lock: peak {peak(d)}"


def test_a_copied_win_voided_in_100_accounts_asks_ordinary_reads_not_a_closes() -> None:
    """A copier: the same +800 round trip in 100 accounts, the firm voids the winning sell
    in each (one bad print). Each void asked a `ReadAccount`, which the service runs at a
    close's read priority, ahead of every cancel (a locked account's cancel waited 120 s
    behind 100 of them). Nothing here is enforcement (keeping the peak is the strict way):
    each asks an ordinary read of its trades (`ReadTrades`)."""
    d = driver()
    accs = list(range(2001, 2101))
    d.send(quote(MNQ, "21000", at=d.now))
    sells = []
    for i, acc in enumerate(accs):
        d.send(account("50000", acc=acc))
        d.send(
            fill(
                MNQ,
                Side.BUY,
                2,
                "21000",
                order_id=10 * i + 1,
                at=d.now,
                acc=acc,
                trade_id=70000 + 2 * i,
            ),
            position(MNQ, 2, "21000", at=d.now, acc=acc),
        )
    d.now += timedelta(seconds=1)
    for i, acc in enumerate(accs):
        s = fill(
            MNQ,
            Side.SELL,
            2,
            "21200",
            pnl="800",
            order_id=10 * i + 2,
            at=d.now,
            acc=acc,
            trade_id=70001 + 2 * i,
        )
        d.send(s, flat(MNQ, at=d.now, acc=acc), account("50800", acc=acc))
        sells.append(s)
    d.send(quote(MNQ, "21200", at=d.now))
    assert all(d.engine.accounts[a].rule_state["RULE-004"]["peak"] == "50800" for a in accs)
    d.advance(minutes=1)
    out = []
    for s in sells:
        out += d.send(voided(s), account("50000", acc=s.account_id))
    asked, ordinary = reads(out), trade_reads(out)
    assert not asked, f"{len(asked)} urgent reads asked for a give-back no close waits on"
    assert {r.account_id for r in ordinary} == set(accs)


def test_the_wait_outlives_give_back_wait_on_quotes() -> None:
    """`GIVE_BACK_WAIT` is checked in `heard` only, which runs for events through
    `RiskEngine._process`: quotes don't. An account holding another contract, its read slow
    (the budget) and nothing but quotes: after 10 minutes the give-back still waits, and
    `quote_band` still returns None (every quote on the slow path)."""
    from tests.unit.test_void_peak_word import sold_flat

    mes = "CON.F.US.MES.H26"
    d = driver()
    sell = sold_flat(d)
    d.send(quote(mes, "6000", at=d.now))
    d.send(
        fill(mes, Side.BUY, 1, "6000", order_id=9, at=d.now, trade_id=6100),
        position(mes, 1, "6000", at=d.now),
    )
    d.now += timedelta(minutes=1)
    d.send(voided(sell), account("50000"))
    rule = the_rule(d, TrailingDrawdown)
    for k in range(600):  # a quote a second, 10 minutes
        d.now += timedelta(seconds=1)
        d.send(quote(mes, "6000.25" if k % 2 else "6000.50", at=d.now))
    assert not rule.waiting and rule.quote_band(d.acct) is not None


def test_fix_a_read_begun_between_the_two_voids_settles_the_first_then_the_next() -> None:
    """The first read began after the first void, before the second (its trade list knows
    only the first): the first is given back, the second waits for the next read."""
    d = driver()
    a, b = two_wins(d)
    d.advance(minutes=1)
    d.send(voided(a), account("50400"))
    d.advance(seconds=1)
    # as the service applies a read begun now: the voids known when it began (a alone)
    acct = d.acct
    from fsm_risk.core.events import TradesSnapshot
    from tests.factories import gateway_trades

    began_voided = frozenset(acct.voided)
    began_seen = frozenset(acct.seen_trades)
    d.send(voided(b), account("50000"))  # heard while the read runs
    d.send(account("50000"))
    d.send(TradesSnapshot(d.acc, acct.day.start, gateway_trades(d), began_seen, began_voided))
    assert peak(d) == D("50400")
    d.advance(seconds=1)
    gateway_read(d, account("50000"))
    assert peak(d) == D("50000")


def test_fix_the_first_contracts_back_leaves_both() -> None:
    d = driver()
    a, b = two_wins(d)
    d.advance(minutes=1)
    d.send(voided(a), account("50400"), voided(b), account("50000"))
    d.advance(seconds=1)
    gateway_read(d, account("50000"), dataclasses.replace(position(MNQ, 1, "21000"), snapshot=True))
    assert peak(d) == D("50800")


def test_fix_a_fill_in_the_queued_ones_contract_leaves_all() -> None:
    """The second win in MES, queued behind the MNQ one; a fill in MES meanwhile: all left."""
    mes = "CON.F.US.MES.H26"
    d = driver()
    d.send(quote(MNQ, "21000", at=d.now), quote(mes, "6000", at=d.now))
    d.send(
        fill(MNQ, Side.BUY, 1, "21000", order_id=1, at=d.now, trade_id=6000),
        position(MNQ, 1, "21000", at=d.now),
    )
    d.now += timedelta(seconds=1)
    a = fill(MNQ, Side.SELL, 1, "21200", pnl="400", order_id=2, at=d.now, trade_id=6001)
    d.send(a, flat(MNQ, at=d.now), account("50400"), quote(MNQ, "21200", at=d.now))
    d.send(
        fill(mes, Side.BUY, 1, "6000", order_id=3, at=d.now, trade_id=6002),
        position(mes, 1, "6000", at=d.now),
    )
    d.now += timedelta(seconds=1)
    b = fill(mes, Side.SELL, 1, "6080", pnl="400", order_id=4, at=d.now, trade_id=6003)
    d.send(b, flat(mes, at=d.now), account("50800"), quote(mes, "6080", at=d.now))
    assert peak(d) == D("50800")
    d.advance(minutes=1)
    d.send(voided(a), account("50400"), voided(b), account("50000"))
    d.send(
        fill(mes, Side.BUY, 1, "6080", order_id=5, at=d.now, trade_id=6004),
        position(mes, 1, "6080", at=d.now),
    )
    d.advance(seconds=1)
    gateway_read(d, account("50000"), dataclasses.replace(position(mes, 1, "6080"), snapshot=True))
    assert peak(d) == D("50800")
