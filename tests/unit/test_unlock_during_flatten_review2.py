"""Found by a review of 6fa81b4..c3a32fa (the account's unlock during its flatten, own_target): an
overshoot's close (what a close of ours opened) must outlive the admin's unlock of the account
in every path: one noticed after the contract went flat (it entered its close from Trading,
own_target unset), and a second unlock (the first had cleared own_target)."""

from __future__ import annotations

from datetime import timedelta

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
from tests.factories import (
    ACC,
    ES,
    T0,
    Driver,
    account,
    alerts,
    closes,
    fill,
    flat,
    make_engine,
    position,
    quote,
    transitions,
)


def flattened() -> tuple[Driver, int]:
    """2 ES long, -$600 on a $500 daily loss limit: RULE-003's sell 2 accepted (order 555)."""
    d = Driver(make_engine({DailyLossLimit: {"limit": "500"}}))
    d.send(account())
    d.send(fill(ES, Side.BUY, 2, "6000", order_id=20), position(ES, 2, "6000"))
    [c] = closes(d.send(quote(ES, "5994")))
    d.send(EnforcementAccepted(ACC, ES, 555, c.seq))
    return d, c.seq


def filled(d: Driver, oid: int) -> OrderUpdate:
    return OrderUpdate(
        ACC, oid, ES, OrderStatus.FILLED, OrderType.MARKET, Side.SELL, 2, d.now, fill_volume=2
    )


def left_open(d: Driver, buy_seq: int) -> list[object]:
    """Our buy-to-close of the short is refused once; what is sent in the next 2 minutes."""
    d.send(EnforcementRejected(ACC, ES, None, "refused", seq=buy_seq))
    after = []
    for _ in range(8):
        after += closes(d.advance(seconds=15))
    return after


def test_an_overshoot_seen_after_the_contract_went_flat_outlives_the_unlock() -> None:
    """The trader's exit fills and the gateway says flat first (the contract leaves its close,
    the account goes LockedDaily); our sell 2 fills after: short 2, closed by the overshoot's
    own breach from Trading (rule id the stale RULE-003). The admin forces Trading: the short
    the service opened must still be closed after a refusal."""
    d, _ = flattened()
    d.now = T0 + timedelta(milliseconds=200)
    d.send(filled(d, 700), fill(ES, Side.SELL, 2, "5994", pnl="-600", order_id=700, at=d.now))
    d.send(flat(ES, at=d.now))
    cm = d.acct.contracts[ES]
    assert cm.state is State.Trading and d.acct.state is State.LockedDaily
    d.now += timedelta(milliseconds=300)
    out = d.send(
        filled(d, 555),
        fill(ES, Side.SELL, 2, "5994", order_id=555, at=d.now),
        position(ES, 2, "5994", long=False, at=d.now),
    )
    assert [a for a in alerts(out) if a.reason is Reason.CLOSE_OVERSHOT]
    [buy] = closes(out)
    assert cm.state is State.Flattening and cm.reason is Reason.CLOSE_OVERSHOT
    d.now += timedelta(milliseconds=100)
    forced = d.send(AdminCommand(ACC, State.Trading, "keep it", "ana"))
    assert not [t for t in transitions(forced) if t[0] == ES], transitions(forced)
    after = left_open(d, buy.seq)
    assert [c.contract_id for c in after][:1] == [ES], "short 2 ES opened by us left open"
    assert cm.state is State.Flattening and d.acct.positions[ES].size == 2


def test_an_overshoot_close_outlives_a_second_unlock() -> None:
    """The review's own case (the overshoot seen while the contract closes), the admin's force
    to Trading sent twice: the first returns the close to its own target and forgets it, so
    the second freed the short 2 the service opened."""
    d, _ = flattened()
    d.now = T0 + timedelta(milliseconds=200)
    out = d.send(
        filled(d, 700),
        fill(ES, Side.SELL, 2, "5994", pnl="-600", order_id=700, at=d.now),
        filled(d, 555),
        fill(ES, Side.SELL, 2, "5994", order_id=555, at=d.now),
        position(ES, 2, "5994", long=False, at=d.now),
    )
    [buy] = closes(out)
    cm = d.acct.contracts[ES]
    d.now += timedelta(milliseconds=100)
    d.send(AdminCommand(ACC, State.Trading, "keep it", "ana"))
    d.now += timedelta(seconds=1)
    forced = d.send(AdminCommand(ACC, State.Trading, "keep it, really", "ana"))
    assert not [t for t in transitions(forced) if t[0] == ES], transitions(forced)
    after = left_open(d, buy.seq)
    assert [c.contract_id for c in after][:1] == [ES], "short 2 ES opened by us left open"
    assert cm.state is State.Flattening and d.acct.positions[ES].size == 2
