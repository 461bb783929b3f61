"""A read asked for before a void was applied lists the voided trade unvoided, and the balance
before the void: older news, which never brings the voided P&L back (`core.voids`).

The tester's case (`serve`, periodic reads, the firm voiding trades): CL trade 1796577671385224
(P&L -130, fees 1.65) voided at 17:46:29.6; at 17:46:30.790 a periodic read that live events
had overtaken (used all the same: a busy feed must not starve the reads) rebuilt the day's
realized P&L from a trade list that predated the void, -15685.26 to -15816.91, until the next
read 1.7 s later. A daily loss limit within $131.65 would have locked the account for good.

The reviewer's case (r3): such a read lists the voided trade's position too. Long 1 MNQ, a
periodic read asked for, the firm voids the buy and the live record says flat, an admin
Cooldown (nothing to close); the read came back listing long 1, the engine held it again and
sent ClosePosition MNQ (POSITION_WHILE_LOCKED): a sell into a flat account, a short 1 nobody
asked for. The void gave the position back live, newer than the read."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from decimal import Decimal

from fsm_risk.core.effects import Effect
from fsm_risk.core.events import (
    AdminCommand,
    Event,
    Fill,
    Listing,
    PositionUpdate,
    Side,
    TradesSnapshot,
)
from fsm_risk.core.reasons import Reason
from fsm_risk.core.states import State
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from tests.factories import (
    CL,
    MNQ,
    Driver,
    account,
    alerts,
    closes,
    fill,
    flat,
    gateway_read,
    make_engine,
    position,
)

D = Decimal
OPEN, LOSS = 1796577671385223, 1796577671385224
BUY = 9100001


def opened() -> Fill:
    return fill(CL, Side.BUY, 1, "70.00", fees="1.65", order_id=1, trade_id=OPEN)


def loss(*, voided: bool = False) -> Fill:
    return fill(
        CL, Side.SELL, 1, "69.87", pnl="-130", fees="1.65", order_id=2, trade_id=LOSS, voided=voided
    )


def traded(d: Driver) -> None:
    """Long 1 CL and out at a $130 loss (fees $1.65 each way), the balance taken after."""
    d.send(account("50000"), opened(), loss(), account("49866.70"))
    assert d.acct.day.realized == D("-133.30")


def asked(d: Driver) -> tuple[frozenset[int], frozenset[int]]:
    """What the engine knew when a read was asked for (as `service._ReadBegan`): the trades
    applied, and those seen voided."""
    return frozenset(d.acct.seen_trades), frozenset(d.acct.voided)


def answered(
    d: Driver,
    when: tuple[frozenset[int], frozenset[int]],
    trades: Sequence[Fill],
    balance: str,
) -> list[Effect]:
    """The answer to a read asked for at ``when``, applied as the service applies it: its
    balance and trades, the `Listing` (flat, no orders), then its trade list."""
    applied, voided = when
    listed = applied | {t.trade_id for t in trades}
    gone = voided | {t.trade_id for t in trades if t.voided}
    read: list[Event] = [
        dataclasses.replace(account(balance), applied=listed, voided=gone),
        *trades,
        Listing(d.acc, frozenset(), frozenset(), frozenset(), frozenset(), listed, periodic=True),
        TradesSnapshot(d.acc, d.acct.week.start, tuple(trades), applied, voided),
    ]
    return d.send(*read)


def test_a_read_asked_before_the_void_never_counts_the_voided_loss_again() -> None:
    d = Driver(make_engine())
    traded(d)
    before = asked(d)
    d.send(loss(voided=True), account("49998.35"))  # the firm voids it: the balance follows
    assert d.acct.day.realized == d.acct.week.realized == D("-1.65")
    out = answered(d, before, (opened(), loss()), "49866.70")  # the gateway's word before
    assert d.acct.day.realized == d.acct.week.realized == D("-1.65")
    assert Reason.REALIZED_REBUILT not in {a.reason for a in alerts(out)}
    assert d.acct.balance == D("49998.35")  # its balance, before the void, is not taken
    assert d.acct.equity == D("49998.35")


def test_the_void_stands_when_the_next_read_lists_it_voided() -> None:
    d = Driver(make_engine())
    traded(d)
    before = asked(d)
    d.send(loss(voided=True), account("49998.35"))
    answered(d, before, (opened(), loss()), "49866.70")  # overtaken, used all the same
    out = answered(d, asked(d), (opened(), loss(voided=True)), "49998.35")
    assert d.acct.day.realized == d.acct.week.realized == D("-1.65")
    assert not alerts(out) and d.acct.balance == D("49998.35")


def test_a_trade_first_seen_voided_fires_no_rule_from_a_read_that_lists_it_unvoided() -> None:
    # the feed brought the trade only as voided: a read asked for before then lists it
    # unvoided, and the daily loss limit ($100) would have flattened and locked on it
    d = Driver(make_engine({DailyLossLimit: {"limit": "100", "basis": "realized"}}))
    d.send(account("50000"), opened())
    before = asked(d)
    d.send(loss(voided=True))
    out = answered(d, before, (opened(), loss()), "49866.70")
    assert d.acct.day.realized == D("-1.65")
    assert d.acct.state is State.Trading and not closes(out)
    assert Reason.DAILY_LOSS_LIMIT not in {a.reason for a in alerts(out)}


def test_a_void_the_engine_never_heard_of_is_taken_from_the_read_that_lists_it() -> None:
    d = Driver(make_engine())
    traded(d)
    out = gateway_read(d, opened(), loss(voided=True), account("49998.35"))
    assert d.acct.day.realized == d.acct.week.realized == D("-1.65")
    assert d.acct.balance == D("49998.35") and LOSS in d.acct.voided
    assert Reason.REALIZED_REBUILT not in {a.reason for a in alerts(out)}


def test_a_list_asked_for_after_the_void_is_believed_whatever_it_says() -> None:
    # a void is final at the gateway; should a list asked for after it give the trade
    # unvoided all the same, it is the gateway's word, as any rebuild from its trades
    d = Driver(make_engine())
    traded(d)
    d.send(loss(voided=True), account("49998.35"))
    out = d.send(TradesSnapshot(d.acc, d.acct.week.start, (opened(), loss()), *asked(d)))
    assert d.acct.day.realized == D("-133.30")
    assert Reason.REALIZED_REBUILT in {a.reason for a in alerts(out)}


def test_a_balance_read_after_the_void_is_taken() -> None:
    d = Driver(make_engine())
    traded(d)
    d.send(loss(voided=True))
    applied, voided = asked(d)
    out = d.send(dataclasses.replace(account("49998.35"), applied=applied, voided=voided))
    assert d.acct.balance == D("49998.35") and not alerts(out)


def test_the_service_marks_a_reads_balance_with_the_voids_seen_when_it_was_asked_for() -> None:
    from fsm_risk.service import _ReadBegan

    d = Driver(make_engine())
    traded(d)
    began = _ReadBegan.of(d.acct, d.now)
    d.send(loss(voided=True), account("49998.35"))
    read, _ = began.read(d.acc, [account("49866.70"), opened(), loss()], periodic=True)
    d.send(*read)
    assert d.acct.balance == D("49998.35")


def bought(*, voided: bool = False) -> Fill:
    return fill(MNQ, Side.BUY, 1, "21000", fees="0.74", order_id=1, trade_id=BUY, voided=voided)


def listed_long(d: Driver, when: tuple[frozenset[int], frozenset[int]]) -> list[Effect]:
    """The answer to a read asked for at ``when``, as the service marks it: long 1 MNQ, the
    buy unvoided, the balance before its void."""
    applied, voided = when
    listed = applied | {BUY}
    read: list[Event] = [
        dataclasses.replace(account("50000"), applied=listed, voided=voided),
        bought(),
        dataclasses.replace(
            position(MNQ, 1, "21000"), snapshot=True, applied=listed, voided=voided
        ),
        Listing(d.acc, frozenset({MNQ}), frozenset(), frozenset({MNQ}), frozenset(), listed),
        TradesSnapshot(d.acc, d.acct.week.start, (bought(),), applied, voided),
    ]
    return d.send(*read)


def test_a_read_asked_before_a_void_never_brings_its_position_back_into_a_lock() -> None:
    d = Driver(make_engine())
    d.send(account("50000"), bought(), position(MNQ, 1, "21000"))
    before = asked(d)
    d.send(bought(voided=True), flat(MNQ), account("50000.74"))  # the void, live
    assert MNQ not in d.acct.positions
    out = d.send(AdminCommand(d.acc, State.Cooldown, "cool off", "ops", minutes=30))
    assert not closes(out)
    out = listed_long(d, before)
    assert MNQ not in d.acct.positions  # the gateway is flat
    assert not closes(out)  # a close would sell 1 into a flat account: short 1


def test_a_position_read_after_the_void_is_taken() -> None:
    # a read asked for once the void was applied lists what the gateway holds since
    d = Driver(make_engine())
    d.send(account("50000"), bought(), position(MNQ, 1, "21000"))
    d.send(bought(voided=True), flat(MNQ), account("50000.74"))
    applied, voided = asked(d)
    d.send(
        dataclasses.replace(
            position(MNQ, 1, "21000"), snapshot=True, applied=applied, voided=voided
        )
    )
    assert d.acct.positions[MNQ].size == 1


def test_the_service_marks_a_reads_positions_with_the_voids_seen_when_it_was_asked_for() -> None:
    from fsm_risk.service import _ReadBegan

    d = Driver(make_engine())
    d.send(account("50000"), bought(), position(MNQ, 1, "21000"))
    began = _ReadBegan.of(d.acct, d.now)
    d.send(bought(voided=True), flat(MNQ), account("50000.74"))
    listed = dataclasses.replace(position(MNQ, 1, "21000"), snapshot=True)  # as a read gives
    read, _ = began.read(d.acc, [bought(), listed], periodic=True)
    marked = next(e for e in read if isinstance(e, PositionUpdate))
    assert marked.voided == frozenset()
    d.send(*read)
    assert MNQ not in d.acct.positions
