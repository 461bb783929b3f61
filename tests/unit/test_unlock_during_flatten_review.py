"""An admin's forced Trading on an account during its flatten ends only the closes that are the
account's alone: a contract's own close (what a close of ours opened, a reduce of its own), the
fail-closed close of a position that cannot be valued, and a close under its root's lock go on.

Found by a review of the change that made the account's unlock end the account's closes: each
case below was freed with them, and left open for good (or said freed and put back)."""

from __future__ import annotations

from datetime import timedelta

from fsm_risk.core.admin import force
from fsm_risk.core.engine import RiskEngine
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
from fsm_risk.rules.max_contracts_per_instrument import MaxContractsPerInstrument
from fsm_risk.rules.position_stop_loss import PositionStopLoss
from fsm_risk.rules.trade_cooldown import TradeCooldown
from tests.factories import (
    ACC,
    ES,
    MNQ,
    T0,
    Driver,
    account,
    alerts,
    cancels,
    closes,
    fill,
    make_engine,
    order,
    our_close_filled,
    position,
    quote,
    reduces,
    restart,
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


def reduce_widened() -> Driver:
    """3 ES on a limit of 2: RULE-002 reduces 1; then -$1,500 open on a $500 daily loss
    limit: RULE-003's flatten closes the rest after the reduce (target 0)."""
    d = Driver(make_engine(REDUCE_RULES))
    d.send(account())
    d.send(fill(ES, Side.BUY, 3, "6000", order_id=20), position(ES, 3, "6000"))
    [r] = reduces(d.effects)
    assert r.size == 1 and d.acct.contracts[ES].target_size == 2
    d.send(quote(ES, "5990"))
    assert d.acct.state is State.Flattening and d.acct.contracts[ES].target_size == 0
    return d


REDUCE_RULES = {MaxContractsPerInstrument: {"default_limit": "2"}, DailyLossLimit: {"limit": "500"}}


def rebuilt() -> RiskEngine:
    return make_engine(REDUCE_RULES)


def assert_stops_at_the_reduce(d: Driver) -> None:
    """The account is forced to Trading; the trader places a take-profit (left working, as
    beside the reduce alone); the reduce of 1 fills: 2 ES stay, what RULE-002 allows and the
    admin let stay; nothing more is closed, reduced or cancelled."""
    d.send(AdminCommand(ACC, State.Trading, "keep it", "ana"))
    cm = d.acct.contracts[ES]
    assert d.acct.state is State.Trading and cm.target_size == 2
    d.now += timedelta(seconds=1)
    out = d.send(order(96, ES, Side.SELL, 1, limit="6010", at=d.now))
    done, f = our_close_filled(ES, Side.SELL, 1, "5990", pnl="-125", at=d.now)
    out += d.send(done, f, position(ES, 2, "6000", at=d.now))
    for _ in range(4):
        out += d.advance(seconds=15)
    sent = [(c.contract_id, getattr(c, "size", None)) for c in closes(out) + reduces(out)]
    assert sent == [], sent
    assert cancels(out) == [] and 96 in d.acct.orders
    assert cm.state is State.Trading


def test_a_reduce_the_accounts_flatten_widened_stops_at_its_own_target_after_the_unlock() -> None:
    """Found by a review: a RULE-002 reduce (3 -> 2) that RULE-003's flatten turned into a
    close of everything kept closing everything after the admin's unlock (the sweep set its
    target to 0, the rule id stayed RULE-002): the 2 ES the rules allow were closed too."""
    assert_stops_at_the_reduce(reduce_widened())


def test_a_widened_reduces_own_target_survives_a_restart() -> None:
    """Found by a review (as above), across a restart between the flatten and the unlock."""
    d = restart(reduce_widened(), rebuilt)
    assert d.acct.contracts[ES].state is State.Flattening
    assert_stops_at_the_reduce(d)


def test_a_reduce_its_own_rule_then_closes_keeps_closing_after_the_unlock() -> None:
    """A reduce the account's flatten widened, then closed whole by a rule of its own (RULE-014,
    the position's stop): the account's unlock does not take it back to the reduce."""
    d = Driver(make_engine({**REDUCE_RULES, PositionStopLoss: {"limit": "3000"}}))
    d.send(account())
    d.send(fill(ES, Side.BUY, 3, "6000", order_id=20), position(ES, 3, "6000"))
    d.send(quote(ES, "5990"))  # -1,500: RULE-003 flattens the account
    d.send(quote(ES, "5970"))  # -4,500: RULE-014 closes the position
    cm = d.acct.contracts[ES]
    assert "RULE-014" in (cm.rule_id or "")
    d.send(AdminCommand(ACC, State.Trading, "keep it", "ana"))
    assert cm.state is State.Flattening and cm.target_size == 0


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
