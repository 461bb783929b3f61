"""Found by a review of 2447b19 + 97abca4 (an unlock judged in its own step): after the admin's
unlock, the overshoot's close went on closing the trader's own reversal (short 4 of which ours
opened 2: all 4 closed, citing the waived rule), since under the account's flatten its own
target was the account's 0; and the unlock's own Tick cut a freed position that a close of ours
the gateway had taken was making room for (NQ cut for nothing once ES's close filled)."""

from __future__ import annotations

from datetime import timedelta

from fsm_risk.core.events import (
    AdminCommand,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Side,
)
from fsm_risk.core.states import State
from tests.factories import (
    ACC,
    ES,
    T0,
    closes,
    fill,
    position,
    reduces,
)
from tests.unit.test_unlock_during_flatten_review2 import filled, flattened

UNLOCK = AdminCommand(ACC, State.Trading, "keep it", "ana")


def test_unlock_keeps_the_traders_own_reversal_beside_an_overshoot() -> None:
    """RULE-003 flattens 2 ES long (our sell 2 accepted, order 555). The trader reverses by
    his own order: sell 4 (long 2 -> short 2, the short he asked for). Both fill: short 4, of
    which ours opened 2. From Trading the overshoot's close goes to 2 (his short 2 kept,
    `overshot`: "a trader who reverses by his own order keeps the short he asked for"). The
    admin unlocks the account (RULE-003 waived): what goes on closing must be only the 2 ours
    opened, not his short 2 as well."""
    d, _ = flattened()
    d.now = T0 + timedelta(milliseconds=200)
    his = OrderUpdate(
        ACC, 700, ES, OrderStatus.FILLED, OrderType.MARKET, Side.SELL, 4, d.now, fill_volume=4
    )
    d.send(
        his,
        fill(ES, Side.SELL, 4, "5994", pnl="-600", order_id=700, at=d.now),
        filled(d, 555),
        fill(ES, Side.SELL, 2, "5994", order_id=555, at=d.now),
        position(ES, 4, "5994", long=False, at=d.now),
    )
    cm = d.acct.contracts[ES]
    d.now += timedelta(milliseconds=100)
    d.send(UNLOCK)
    assert d.acct.state is State.Trading
    assert d.acct.positions[ES].size == 4
    assert cm.target_size == 2, (
        f"unlocked, ES short 4 (2 his own reversal, 2 ours opened) goes on closing down to "
        f"{cm.target_size} ({cm.reason}): his own short 2 is closed too"
    )


def test_the_close_sent_after_the_unlock_leaves_his_reversal() -> None:
    """The same, as the gateway sees it: the close in flight at the unlock is refused; what is
    sent next must reduce the 2 ours opened (a ReducePosition of 2), not close all 4."""
    from fsm_risk.core.events import EnforcementRejected

    d, _ = flattened()
    d.now = T0 + timedelta(milliseconds=200)
    his = OrderUpdate(
        ACC, 700, ES, OrderStatus.FILLED, OrderType.MARKET, Side.SELL, 4, d.now, fill_volume=4
    )
    out = d.send(
        his,
        fill(ES, Side.SELL, 4, "5994", pnl="-600", order_id=700, at=d.now),
        filled(d, 555),
        fill(ES, Side.SELL, 2, "5994", order_id=555, at=d.now),
        position(ES, 4, "5994", long=False, at=d.now),
    )
    inflight = closes(out) + reduces(out)
    d.now += timedelta(milliseconds=100)
    d.send(UNLOCK)
    for c in inflight:
        d.send(EnforcementRejected(ACC, ES, None, "refused", seq=c.seq))
    after = []
    for _ in range(8):
        out = d.advance(seconds=15)
        after += closes(out) + reduces(out)
    assert after, "nothing sent"
    first = after[0]
    assert getattr(first, "size", None) == 2, f"unlocked, 4 short ES, ours opened 2: {first}"


def in_flight_es_beside_grown_nq():  # type: ignore[no-untyped-def]
    """RULE-001 limit 5, RULE-003 $500: NQ 4, ES 1 (5 open). ES at 5990: -$500, RULE-003
    flattens both. Our close of ES is accepted (order 901, working: it will close ES whole);
    our close of NQ is refused; his NQ buy 1 limit fills before its cancel: NQ 5."""
    from fsm_risk.core.events import EnforcementAccepted, EnforcementRejected
    from fsm_risk.rules.daily_loss_limit import DailyLossLimit
    from fsm_risk.rules.max_contracts import MaxContracts
    from tests.factories import NQ, Driver, account, make_engine, order, quote

    d = Driver(make_engine({MaxContracts: {"limit": "5"}, DailyLossLimit: {"limit": "500"}}))
    d.send(account())
    d.send(fill(NQ, Side.BUY, 4, "21000", order_id=10), position(NQ, 4, "21000"))
    d.send(quote(NQ, "21000"), order(11, NQ, Side.BUY, 1, limit="20990"))
    d.send(fill(ES, Side.BUY, 1, "6000", order_id=20), position(ES, 1, "6000"))
    sent = closes(d.send(quote(ES, "5990")))
    assert d.acct.state is State.Flattening
    assert sorted(c.contract_id for c in sent) == [ES, NQ]
    [es] = [c for c in sent if c.contract_id == ES]
    [nq] = [c for c in sent if c.contract_id == NQ]
    d.now += timedelta(milliseconds=50)
    d.send(EnforcementAccepted(ACC, ES, 901, es.seq))
    d.send(EnforcementRejected(ACC, NQ, None, "refused", seq=nq.seq))
    d.send(
        fill(NQ, Side.BUY, 1, "20990", order_id=11, at=d.now),
        position(NQ, 5, "20998", at=d.now),
    )
    return d, NQ


def test_the_unlocks_tick_counts_a_close_the_gateway_took() -> None:
    """The admin unlocks while our close of ES (whole, accepted) still works: ES 1 will be
    closed by it whatever the unlock does. NQ 5 alone is within RULE-001's 5. The unlock's
    Tick counts ES 1 as staying (the contract is Trading again, `reducing_to` None) and cuts
    NQ 5 -> 4; then the close in flight fills (ES 0): 4 open, NQ cut for nothing. Before
    2447b19 RULE-001 judged at ES's fill: NQ 5 <= 5, nothing."""

    d, nq = in_flight_es_beside_grown_nq()
    d.now += timedelta(milliseconds=50)
    out = d.send(UNLOCK)
    sent = [(r.contract_id, r.rule_id, r.size) for r in reduces(out)] + [
        (c.contract_id, c.rule_id, "all") for c in closes(out)
    ]
    # the close in flight fills: ES flat
    d.now += timedelta(milliseconds=100)
    done = OrderUpdate(
        ACC, 901, ES, OrderStatus.FILLED, OrderType.MARKET, Side.SELL, 1, d.now, fill_volume=1
    )
    from tests.factories import flat

    d.send(done, fill(ES, Side.SELL, 1, "5990", pnl="-500", order_id=901, at=d.now))
    d.send(flat(ES, at=d.now))
    assert [s for s in sent if s[0] == nq] == [], (
        f"NQ 5 alone is within RULE-001's limit of 5 once ES's accepted close fills: {sent}"
    )
