"""Found by a review: a stop of the trader's that we saw working before the flatten began is his
though the gateway stamped it less than 5 s before (a bracket's stop placed with the entry that
breached) or the gateway's clock runs ahead of ours; beside them, guards that held before the
fix: our close stays ours (our fill before its order's record, the gateway's clock behind), the
platform's liquidation stays the platform's, his fill mid-flatten sends no second close."""

from __future__ import annotations

from datetime import timedelta

from fsm_risk.core.events import OrderStatus, OrderType, Side
from fsm_risk.core.states import State
from fsm_risk.rules.max_consecutive_losses import MaxConsecutiveLosses
from fsm_risk.rules.max_contracts import MaxContracts
from fsm_risk.rules.revenge_trading import RevengeTrading
from fsm_risk.rules.trade_cooldown import TradeCooldown
from fsm_risk.rules.trading_permission import TradingPermission
from tests.factories import (
    ES,
    MNQ,
    Driver,
    account,
    closes,
    fill,
    flat,
    make_engine,
    order,
    our_close_filled,
    position,
    restart,
)

_ids = iter(range(7_100_000, 10**9))
FLATTEN_ALL = {MaxContracts: {"limit": "2", "action": "flatten"}}


def _round_trip(d: Driver, pnl: str) -> None:
    d.send(
        fill(ES, Side.BUY, 1, "6000", order_id=next(_ids), at=d.now),
        position(ES, 1, "6000", at=d.now),
        fill(ES, Side.SELL, 1, "5999", pnl=pnl, order_id=next(_ids), at=d.now),
        flat(ES, at=d.now),
    )
    d.now += timedelta(minutes=1)


def _stop_fills(d: Driver, stop: int, size: int, pnl: str, *, at_skew: timedelta) -> None:
    d.send(
        order(
            stop,
            ES,
            Side.SELL,
            size,
            type=OrderType.STOP,
            stop="5990",
            status=OrderStatus.FILLED,
            at=d.now + at_skew,
        ),
        fill(ES, Side.SELL, size, "5990", pnl=pnl, order_id=stop, at=d.now + at_skew),
        flat(ES, at=d.now + at_skew),
    )


# --- F1: a bracket's stop, placed with the entry that breached, is still taken for our close


def test_bracket_stop_placed_with_the_breaching_entry_is_his_third_loss() -> None:
    """The trader buys 3 ES with a bracket (its stop is created with the entry, as the gateway
    and the paper gateway do: children exist, Suspended, from the entry's placement). 3 > 2:
    RULE-001 flattens everything. The stop triggers before our close fills: -$1500, his third
    losing round trip in a row. RULE-011 must lock the day."""
    d = Driver(make_engine({MaxConsecutiveLosses: {}, **FLATTEN_ALL}))
    d.send(account())
    _round_trip(d, "-50")
    _round_trip(d, "-50")
    stop = next(_ids)
    d.send(order(stop, ES, Side.SELL, 3, type=OrderType.STOP, stop="5990", at=d.now))
    d.send(fill(ES, Side.BUY, 3, "6000", order_id=next(_ids), at=d.now))
    d.send(position(ES, 3, "6000", at=d.now))
    assert d.acct.state is State.Flattening
    assert [c.contract_id for c in closes(d.effects)] == [ES]
    d.now += timedelta(seconds=1)
    _stop_fills(d, stop, 3, "-1500", at_skew=timedelta(0))
    assert d.acct.day.trips[-1].net == -1500
    assert d.acct.state is State.LockedDaily, (d.acct.state, d.acct.day.trips[-1].enforced)


def test_bracket_stop_placed_with_the_breaching_entry_starts_the_cooldown() -> None:
    """As above with RULE-008 (a loss of $1000 or more: 30 min cooldown). Flatten-all of
    RULE-001 locks nothing; his -$1500 stop-out must put the account in Cooldown."""
    d = Driver(make_engine({TradeCooldown: {"tiers": "1000:30"}, **FLATTEN_ALL}))
    d.send(account())
    stop = next(_ids)
    d.send(order(stop, ES, Side.SELL, 3, type=OrderType.STOP, stop="5990", at=d.now))
    d.send(fill(ES, Side.BUY, 3, "6000", order_id=next(_ids), at=d.now))
    d.send(position(ES, 3, "6000", at=d.now))
    assert d.acct.state is State.Flattening
    d.now += timedelta(seconds=1)
    _stop_fills(d, stop, 3, "-1500", at_skew=timedelta(0))
    assert d.acct.state is State.Cooldown, d.acct.state


# --- F2: the gateway's clock ahead of ours by more than 5 s


def test_standing_stop_with_the_gateway_clock_90s_ahead_is_his_third_loss() -> None:
    """The commit's own scenario (a stop working for a minute), but the gateway's clock is
    90 s ahead of ours: every stamp it gives (the order's creation, the fills) is 90 s later.
    The stop stood a whole minute before the flatten; it is his trade all the same."""
    ahead = timedelta(seconds=90)
    d = Driver(make_engine({MaxConsecutiveLosses: {}, **FLATTEN_ALL}))
    d.send(account())
    _round_trip(d, "-50")
    _round_trip(d, "-50")
    stop = next(_ids)
    d.send(fill(ES, Side.BUY, 1, "6000", order_id=next(_ids), at=d.now + ahead))
    d.send(position(ES, 1, "6000", at=d.now + ahead))
    d.send(order(stop, ES, Side.SELL, 1, type=OrderType.STOP, stop="5990", at=d.now + ahead))
    d.now += timedelta(minutes=1)
    d.send(fill(MNQ, Side.BUY, 3, "21000", order_id=next(_ids), at=d.now + ahead))
    d.send(position(MNQ, 3, "21000", at=d.now + ahead))
    assert d.acct.state is State.Flattening
    _stop_fills(d, stop, 1, "-500", at_skew=ahead)
    d.send(flat(MNQ, at=d.now + ahead))
    assert d.acct.day.trips[-1].net == -500
    assert d.acct.state is State.LockedDaily, (d.acct.state, d.acct.day.trips[-1].enforced)


# --- checks (expected to pass): what must stay ours or the platform's


def test_our_close_stays_ours_with_the_gateway_clock_minutes_behind() -> None:
    """The gateway's clock 3 min behind ours: our close's market order is stamped 3 min
    before the flatten began. Its fill (a -$500 exit) must still be ours: no cooldown."""
    behind = -timedelta(minutes=3)
    d = Driver(make_engine({TradeCooldown: {"tiers": "100:30"}, **FLATTEN_ALL}))
    d.send(account())
    d.send(fill(ES, Side.BUY, 1, "6000", order_id=next(_ids), at=d.now + behind))
    d.send(position(ES, 1, "6000", at=d.now + behind))
    d.now += timedelta(minutes=1)
    d.send(fill(MNQ, Side.BUY, 3, "21000", order_id=next(_ids), at=d.now + behind))
    d.send(position(MNQ, 3, "21000", at=d.now + behind))
    assert d.acct.state is State.Flattening
    d.now += timedelta(seconds=1)
    for cid, price, pnl in ((ES, "5990", "-500"), (MNQ, "20990", "-60")):
        done, f = our_close_filled(
            cid, Side.SELL, 1 if cid == ES else 3, price, pnl=pnl, at=d.now + behind
        )
        d.send(done, f, flat(cid, at=d.now + behind))
    assert d.acct.state is State.Trading
    assert all(t.enforced for t in d.acct.day.trips)


def test_our_close_filling_before_its_order_record_stays_ours() -> None:
    """closeContract names no order id: our close's fill arrives before any record of its
    order (so nothing says it is a market order). It must stay ours."""
    d = Driver(make_engine({TradeCooldown: {"tiers": "100:30"}, **FLATTEN_ALL}))
    d.send(account())
    d.send(fill(ES, Side.BUY, 1, "6000", order_id=next(_ids), at=d.now))
    d.send(position(ES, 1, "6000", at=d.now))
    d.now += timedelta(minutes=1)
    d.send(fill(MNQ, Side.BUY, 3, "21000", order_id=next(_ids), at=d.now))
    d.send(position(MNQ, 3, "21000", at=d.now))
    d.now += timedelta(seconds=1)
    d.send(fill(ES, Side.SELL, 1, "5990", pnl="-500", order_id=next(_ids), at=d.now))
    d.send(flat(ES, at=d.now))
    d.send(fill(MNQ, Side.SELL, 3, "20990", pnl="-60", order_id=next(_ids), at=d.now))
    d.send(flat(MNQ, at=d.now))
    assert d.acct.state is State.Trading
    assert all(t.enforced for t in d.acct.day.trips)


def test_the_stop_filling_before_its_final_record_is_his() -> None:
    """The fill first, while the order's record still says it works (the path through
    `acct.orders`, which the commit's tests never take)."""
    d = Driver(make_engine({TradeCooldown: {"tiers": "100:30"}, **FLATTEN_ALL}))
    d.send(account())
    stop = next(_ids)
    d.send(fill(ES, Side.BUY, 1, "6000", order_id=next(_ids), at=d.now))
    d.send(position(ES, 1, "6000", at=d.now))
    d.send(order(stop, ES, Side.SELL, 1, type=OrderType.STOP, stop="5990", at=d.now))
    d.now += timedelta(minutes=1)
    d.send(fill(MNQ, Side.BUY, 3, "21000", order_id=next(_ids), at=d.now))
    d.send(position(MNQ, 3, "21000", at=d.now))
    d.send(fill(ES, Side.SELL, 1, "5990", pnl="-500", order_id=stop, at=d.now))
    d.send(
        order(
            stop,
            ES,
            Side.SELL,
            1,
            type=OrderType.STOP,
            stop="5990",
            status=OrderStatus.FILLED,
            at=d.now,
        ),
        flat(ES, at=d.now),
        flat(MNQ, at=d.now),
    )
    assert d.acct.state is State.Cooldown


def test_platform_liquidation_while_blocked_stays_the_platforms() -> None:
    """canTrade false (RULE-018 flattens): the platform closes by its own market order. Not
    his: no revenge watch starts, the trip is enforcement."""
    d = Driver(make_engine({RevengeTrading: {}, TradingPermission: {}}))
    d.send(account())
    d.send(fill(ES, Side.BUY, 1, "6000", order_id=next(_ids), at=d.now))
    d.send(position(ES, 1, "6000", at=d.now))
    d.now += timedelta(minutes=1)
    d.send(account(can_trade=False))
    assert d.acct.state is State.Flattening
    liq = next(_ids)
    d.send(
        order(liq, ES, Side.SELL, 1, type=OrderType.MARKET, status=OrderStatus.FILLED, at=d.now),
        fill(ES, Side.SELL, 1, "5990", pnl="-500", order_id=liq, at=d.now),
        flat(ES, at=d.now),
    )
    assert d.acct.day.trips[-1].enforced
    assert d.acct.day.fills[-1].enforcement


def test_a_third_loss_during_the_rule_018_flatten_outlives_can_trade() -> None:
    """His stop fills during RULE-018's flatten: his third loss locks the day (RULE-011).
    canTrade true again ends RULE-018's hold only: RULE-011's lock must stay."""
    d = Driver(make_engine({MaxConsecutiveLosses: {}, TradingPermission: {}}))
    d.send(account())
    _round_trip(d, "-50")
    _round_trip(d, "-50")
    stop = next(_ids)
    d.send(fill(ES, Side.BUY, 1, "6000", order_id=next(_ids), at=d.now))
    d.send(position(ES, 1, "6000", at=d.now))
    d.send(order(stop, ES, Side.SELL, 1, type=OrderType.STOP, stop="5990", at=d.now))
    d.now += timedelta(minutes=1)
    d.send(account(can_trade=False))
    _stop_fills(d, stop, 1, "-500", at_skew=timedelta(0))
    assert d.acct.state is State.LockedDaily
    d.now += timedelta(minutes=1)
    d.send(account(can_trade=True))
    assert d.acct.state is State.LockedDaily
    assert "RULE-011" in d.acct.holds


def test_his_stop_firing_a_rule_mid_flatten_sends_no_second_close() -> None:
    """His stop's -$500 fill comes while our close of ES is in flight and before the gateway's
    flat position: RULE-008 fires during the flatten. Never a second close of ES in flight."""
    d = Driver(make_engine({TradeCooldown: {"tiers": "100:30"}, **FLATTEN_ALL}))
    d.send(account())
    stop = next(_ids)
    d.send(fill(ES, Side.BUY, 1, "6000", order_id=next(_ids), at=d.now))
    d.send(position(ES, 1, "6000", at=d.now))
    d.send(order(stop, ES, Side.SELL, 1, type=OrderType.STOP, stop="5990", at=d.now))
    d.now += timedelta(minutes=1)
    d.send(fill(MNQ, Side.BUY, 3, "21000", order_id=next(_ids), at=d.now))
    d.send(position(MNQ, 3, "21000", at=d.now))
    assert [c.contract_id for c in closes(d.effects)].count(ES) == 1
    d.send(fill(ES, Side.SELL, 1, "5990", pnl="-500", order_id=stop, at=d.now))
    assert [c.contract_id for c in closes(d.effects)].count(ES) == 1
    assert d.acct.holds["RULE-008"].kind is State.Cooldown
    d.send(
        order(stop, ES, Side.SELL, 1, type=OrderType.STOP, stop="5990", status=OrderStatus.FILLED),
        flat(ES, at=d.now),
        flat(MNQ, at=d.now),
    )
    assert [c.contract_id for c in closes(d.effects)].count(ES) == 1
    assert d.acct.state is State.Cooldown


def test_his_stop_after_a_restart_mid_flatten_is_his() -> None:
    """The service restarts while the account flattens; the stop (restored as working, its
    first sighting lost) then fills: his, by its creation stamp."""
    rules = {TradeCooldown: {"tiers": "100:30"}, **FLATTEN_ALL}
    d = Driver(make_engine(rules))
    d.send(account())
    stop = next(_ids)
    d.send(fill(ES, Side.BUY, 1, "6000", order_id=next(_ids), at=d.now))
    d.send(position(ES, 1, "6000", at=d.now))
    d.send(order(stop, ES, Side.SELL, 1, type=OrderType.STOP, stop="5990", at=d.now))
    d.now += timedelta(minutes=1)
    d.send(fill(MNQ, Side.BUY, 3, "21000", order_id=next(_ids), at=d.now))
    d.send(position(MNQ, 3, "21000", at=d.now))
    d = restart(d, lambda: make_engine(rules), at=d.now + timedelta(seconds=2))
    assert d.acct.state is State.Flattening
    d.send(
        fill(ES, Side.SELL, 1, "5990", pnl="-500", order_id=stop, at=d.now),
        order(stop, ES, Side.SELL, 1, type=OrderType.STOP, stop="5990", status=OrderStatus.FILLED),
        flat(ES, at=d.now),
        flat(MNQ, at=d.now),
    )
    assert d.acct.state is State.Cooldown
