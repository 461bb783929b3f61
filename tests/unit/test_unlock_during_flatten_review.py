"""An admin's forced Trading on an account during its flatten ends only the closes that are the
account's alone: a contract's own close (what a close of ours opened, a reduce of its own), the
fail-closed close of a position that cannot be valued, and a close under its root's lock go on.

Found by a review of the change that made the account's unlock end the account's closes: each
case below was freed with them, and left open for good (or said freed and put back)."""

from __future__ import annotations

from datetime import timedelta

from fsm_risk.core.admin import force
from fsm_risk.core.events import (
    AdminCommand,
    EnforcementAccepted,
    EnforcementRejected,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Side,
)
from fsm_risk.core.reasons import Reason
from fsm_risk.core.states import State
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from fsm_risk.rules.trade_cooldown import TradeCooldown
from tests.factories import (
    ACC,
    ES,
    MNQ,
    T0,
    Driver,
    account,
    alerts,
    closes,
    fill,
    make_engine,
    position,
    quote,
    transitions,
)

#: a root with no defaults, whose tick the gateway never tells
A6 = "CON.F.US.6A.Z26"


def test_the_close_of_what_our_close_opened_outlives_the_accounts_unlock() -> None:
    """Found by a review: RULE-003's close and the trader's own exit both filled (short 2,
    opened by ours); the admin forced the account to Trading; our buy-to-close was refused
    once, and the short 2 the service opened was never closed again (the contract was freed
    with the account's closes: its target was already 0, nothing marked it as its own)."""
    d = Driver(make_engine({DailyLossLimit: {"limit": "500"}}))
    d.send(account())
    d.send(fill(ES, Side.BUY, 2, "6000", order_id=20), position(ES, 2, "6000"))
    [c] = closes(d.send(quote(ES, "5994")))  # -600: RULE-003 flattens, our sell 2 goes
    d.send(EnforcementAccepted(ACC, ES, 555, c.seq))
    d.now = T0 + timedelta(milliseconds=200)
    his = OrderUpdate(
        ACC, 700, ES, OrderStatus.FILLED, OrderType.MARKET, Side.SELL, 2, d.now, fill_volume=2
    )
    ours = OrderUpdate(
        ACC, 555, ES, OrderStatus.FILLED, OrderType.MARKET, Side.SELL, 2, d.now, fill_volume=2
    )
    out = d.send(
        his,
        fill(ES, Side.SELL, 2, "5994", pnl="-600", order_id=700, at=d.now),
        ours,
        fill(ES, Side.SELL, 2, "5994", order_id=555, at=d.now),
        position(ES, 2, "5994", long=False, at=d.now),
    )
    assert [a for a in alerts(out) if a.reason is Reason.CLOSE_OVERSHOT]
    cm = d.acct.contracts[ES]
    assert cm.state is State.Flattening
    [buy] = closes(out)
    d.now += timedelta(milliseconds=100)
    forced = d.send(AdminCommand(ACC, State.Trading, "keep it", "ana"))
    assert d.acct.state is State.Trading
    d.send(EnforcementRejected(ACC, ES, None, "refused", seq=buy.seq))
    after = []
    for _ in range(8):
        after += closes(d.advance(seconds=15))
    assert after, "the short 2 the service opened is left open after the account's unlock"
    assert {c.contract_id for c in after} == {ES}
    assert cm.state is State.Flattening and cm.target_size == 0
    assert not [t for t in transitions(forced) if t[0] == ES]


def test_an_unvalued_positions_fail_closed_close_outlives_an_unrelated_unlock() -> None:
    """Found by a review: 6A, whose tick nobody told, was being closed (fail closed,
    UNKNOWN_INSTRUMENT, rule ENGINE); the admin forced the account out of RULE-008's cooldown
    (a losing ES trip); ENGINE counted among the account's causes, so 6A was freed: after one
    refusal it stayed open, unvalued, with no close and no hold."""
    d = Driver(make_engine({TradeCooldown: {}, DailyLossLimit: {"limit": "500"}}))
    d.send(account())
    d.send(fill(A6, Side.BUY, 3, "0.6500", order_id=30), position(A6, 3, "0.6500"))
    out = []
    for _ in range(6):
        out += d.advance(seconds=10)
    [c] = [c for c in closes(out) if c.contract_id == A6]
    cm = d.acct.contracts[A6]
    assert cm.state is State.Flattening and cm.reason is Reason.UNKNOWN_INSTRUMENT
    d.send(fill(ES, Side.BUY, 1, "6000", order_id=40), position(ES, 1, "6000"))
    d.send(fill(ES, Side.SELL, 1, "5998", pnl="-100", order_id=41))
    d.send(position(ES, 0, "0"))
    assert d.acct.state is not State.Trading
    d.send(AdminCommand(ACC, State.Trading, "one loss, let him trade", "ana"))
    assert d.acct.state is State.Trading
    d.send(EnforcementRejected(ACC, A6, None, "refused", seq=c.seq))
    after = []
    for _ in range(10):
        after += closes(d.advance(seconds=15))
    assert [c.contract_id for c in after][:1] == [A6], "the unvalued 6A is left open"
    assert cm.state is State.Flattening


def test_an_unvalued_position_the_accounts_flatten_closes_is_closed_after_the_unlock() -> None:
    """Found by a review: 6A was held unpriced (the gateway asked, closed at its deadline
    unless told); RULE-003's flatten closed it first, ending that hold; the admin forced the
    account to Trading and 6A was freed with it: no hold, no close, open unvalued for good."""
    d = Driver(make_engine({DailyLossLimit: {"limit": "500"}}))
    d.send(account())
    d.send(fill(A6, Side.BUY, 3, "0.6500", order_id=30), position(A6, 3, "0.6500"))
    assert A6 in d.acct.unpriced
    d.send(fill(ES, Side.BUY, 1, "6000", order_id=40), position(ES, 1, "6000"))
    out = d.send(quote(ES, "5985"))  # -750: RULE-003 flattens everything, 6A too
    [c] = [c for c in closes(out) if c.contract_id == A6]
    cm = d.acct.contracts[A6]
    forced = d.send(AdminCommand(ACC, State.Trading, "keep it", "ana"))
    d.send(EnforcementRejected(ACC, A6, None, "refused", seq=c.seq))
    after = []
    for _ in range(10):
        after += closes(d.advance(seconds=15))
    assert A6 in {c.contract_id for c in after}, "the unvalued 6A is left open, no close"
    assert ES not in {c.contract_id for c in after}  # (what the admin let stay stays)
    assert cm.state is State.Flattening and d.acct.state is State.Trading
    assert (ES, "Flattening", "Trading", "force") in transitions(forced)
    assert not [t for t in transitions(forced) if t[0] == A6]


def test_a_contract_under_its_roots_lock_is_not_said_freed_by_the_accounts_unlock() -> None:
    """Found by a review: MNQ locked by an admin (every MNQ contract), the account locked by
    him too; a position opened in MNQ is closed. Forcing the account to Trading said the MNQ
    contract went to Trading with it, and the root's next sweep put it back to closing."""
    d = Driver(make_engine())
    d.send(account())
    d.send(AdminCommand(ACC, State.LockedDaily, "no MNQ today", "ana", contract_id="MNQ"))
    d.send(AdminCommand(ACC, State.LockedDaily, "desk review", "ana"))
    out = d.send(fill(MNQ, Side.BUY, 2, "21000", order_id=20), position(MNQ, 2, "21000"))
    [c] = closes(out)
    f = force(d.engine, AdminCommand(ACC, State.Trading, "review done", "ana"), d.now)
    d.effects.extend(f.effects)
    assert "also contract" not in f.text, f.text
    assert not [t for t in transitions(f.effects) if t[0] == MNQ], transitions(f.effects)
    d.send(EnforcementRejected(ACC, MNQ, None, "refused", seq=c.seq))
    after = []
    for _ in range(6):
        after += closes(d.advance(seconds=15))
    assert after and d.acct.contracts["MNQ"].state is State.LockedDaily


def test_our_closes_later_fills_past_zero_are_closed_not_said_left_open() -> None:
    """Guard (passes before the review's fix too): the overshoot's close of a contract the
    account's flatten already closes whole is not marked as a close sent for the overshoot:
    the rest of our first close, filling past zero after it, is still closed, and not said
    'not closed again' (marking it by its reason, as first suggested, said so)."""
    d = Driver(make_engine({DailyLossLimit: {"limit": "500"}}))
    d.send(account())
    d.send(fill(ES, Side.BUY, 5, "6000", order_id=20), position(ES, 5, "6000"))
    [c] = closes(d.send(quote(ES, "5998")))  # -500: RULE-003, our sell 5
    d.send(EnforcementAccepted(ACC, ES, 555, c.seq))
    d.now = T0 + timedelta(milliseconds=200)
    his = OrderUpdate(
        ACC, 700, ES, OrderStatus.FILLED, OrderType.MARKET, Side.SELL, 5, d.now, fill_volume=5
    )
    out = d.send(his, fill(ES, Side.SELL, 5, "5998", pnl="-500", order_id=700, at=d.now))
    out += d.send(fill(ES, Side.SELL, 2, "5998", order_id=555, at=d.now))  # short 2
    out += d.send(fill(ES, Side.SELL, 3, "5998", order_id=555, at=d.now))  # short 5
    said = [a.message for a in alerts(out) if a.reason is Reason.CLOSE_OVERSHOT]
    assert len(said) == 2 and not [m for m in said if "not closed again" in m], said
    cm = d.acct.contracts[ES]
    assert cm.state is State.Flattening and cm.target_size == 0
