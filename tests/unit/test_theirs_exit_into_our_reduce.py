"""The trader's exit sent into our reduce (found by a review of bce46ce): long 4 MNQ on
RULE-002's limit of 3, our reduce of 1 working, he exits himself.

- his MARKET exit, of a size our reduce did not ask or beside our reduce's order already
  known, is his (it was booked as our close: no RULE-008 on his loss);
- his exit of 3 leaving our reduce the last contract: our fill closes the round trip, and the
  trip is judged on his exits (it was judged by its closing fill, ours: never);
- never one of our fills counted as his: a reduce's fill before its order's record, a close
  of the whole position of any size, an older close's order heard late, a close sent before a
  restart, the platform's liquidation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from fsm_risk.core.contract import ContractModel
from fsm_risk.core.events import OrderStatus, OrderType, Quote, Side
from fsm_risk.core.sent import SentCloses
from fsm_risk.core.states import State
from fsm_risk.rules.max_consecutive_losses import MaxConsecutiveLosses
from fsm_risk.rules.max_contracts_per_instrument import MaxContractsPerInstrument
from fsm_risk.rules.trade_cooldown import TradeCooldown
from tests.factories import (
    DAILY,
    MNQ,
    Driver,
    account,
    closes,
    fill,
    flat,
    make_engine,
    order,
    position,
    quote,
    reduces,
    restart,
    trip_on,
)

_ids = iter(range(7_700_000, 10**9))
RULES = {
    TradeCooldown: {"tiers": "500: 60, 750: 120"},
    MaxContractsPerInstrument: {"default_limit": "3"},
}


def _over_by_one(d: Driver) -> int:
    """Long 3 at 21,000, one more bought at 20,900: our reduce of 1 goes; its market order's
    record comes (recognised as ours). Returns its id."""
    d.send(account())
    d.send(fill(MNQ, Side.BUY, 3, "21000", order_id=next(_ids), at=d.now))
    d.send(position(MNQ, 3, "21000", at=d.now))
    d.now += timedelta(minutes=1)
    d.send(fill(MNQ, Side.BUY, 1, "20900", order_id=next(_ids), at=d.now))
    d.send(position(MNQ, 4, "20975", at=d.now))
    assert d.acct.contracts[MNQ].state is State.Flattening
    assert [r.size for r in reduces(d.effects)] == [1]
    d.now += timedelta(milliseconds=300)
    ours = next(_ids)
    d.send(order(ours, MNQ, Side.SELL, 1, type=OrderType.MARKET, status=OrderStatus.PENDING))
    assert d.acct.contracts[MNQ].close_order == ours
    return ours


def _his_market_sale(d: Driver, size: int, pnl: str) -> int:
    his = next(_ids)
    for status in (OrderStatus.PENDING, OrderStatus.FILLED):
        d.send(order(his, MNQ, Side.SELL, size, type=OrderType.MARKET, status=status, at=d.now))
    d.send(fill(MNQ, Side.SELL, size, "20900", pnl=pnl, order_id=his, at=d.now))
    return his


def test_his_market_exit_of_four_into_our_reduce_of_one_is_his_and_cools_him_down() -> None:
    d = Driver(make_engine(RULES))
    _over_by_one(d)
    _his_market_sale(d, 4, "-600")
    d.send(flat(MNQ, at=d.now))
    assert not d.acct.day.fills[-1].enforcement, "his market exit of 4 booked as our close"
    assert "RULE-008" in d.acct.holds, "his -$600 hidden from RULE-008"


def test_his_market_exit_of_our_reduces_size_beside_its_known_order_stays_ours() -> None:
    """He sells 1 at market too (the size our reduce asked): our reduce's order was recognised
    by its shape only, so his looks the same as ours would had his record come first (see
    test_rv_theirs3_our_fill_as_his): taken as ours, never one of ours taken as his."""
    d = Driver(make_engine(RULES))
    _over_by_one(d)
    _his_market_sale(d, 1, "-75")
    d.send(position(MNQ, 3, "21000", at=d.now))
    assert d.acct.day.fills[-1].enforcement


def test_our_reduces_fill_before_its_order_is_heard_of_stays_ours() -> None:
    """Our reduce's trade heard before any record of its order (each SDK event is its own
    task), at a loss over the top tier: ours, no rule sees it."""
    d = Driver(make_engine(RULES))
    d.send(account())
    d.send(fill(MNQ, Side.BUY, 3, "21000", order_id=next(_ids), at=d.now))
    d.send(position(MNQ, 3, "21000", at=d.now))
    d.send(fill(MNQ, Side.BUY, 1, "21000", order_id=next(_ids), at=d.now))
    d.send(position(MNQ, 4, "21000", at=d.now))
    ours = next(_ids)
    d.send(fill(MNQ, Side.SELL, 1, "20000", pnl="-2000", order_id=ours, at=d.now))
    assert d.acct.day.fills[-1].enforcement
    assert not d.acct.holds


def test_his_exit_of_three_then_our_reduce_closing_the_trip_is_judged_on_his_exits() -> None:
    """His limit sale of 3 (-600) fills, then our reduce of 1 (-200) closes the round trip:
    RULE-008 judges his -600 (60 min), never the trip's -800 (it would be 120 min)."""
    d = Driver(make_engine(RULES))
    ours = _over_by_one(d)
    his = next(_ids)
    kw = {"type": OrderType.LIMIT, "limit": "20800", "at": d.now}
    d.send(order(his, MNQ, Side.SELL, 3, **kw))  # type: ignore[arg-type]
    d.send(
        order(his, MNQ, Side.SELL, 3, status=OrderStatus.FILLED, **kw),  # type: ignore[arg-type]
        fill(MNQ, Side.SELL, 3, "20800", pnl="-600", order_id=his, at=d.now),
    )
    assert "RULE-008" not in d.acct.holds  # (the trip is still open)
    d.send(
        order(ours, MNQ, Side.SELL, 1, type=OrderType.MARKET, status=OrderStatus.FILLED),
        fill(MNQ, Side.SELL, 1, "20700", pnl="-200", order_id=ours, at=d.now),
        flat(MNQ, at=d.now),
    )
    assert d.acct.day.fills[-1].enforcement  # ours stays ours
    assert d.acct.day.trips[-1].net == Decimal(-800)
    lock = d.acct.holds.get("RULE-008")
    assert lock is not None, "his -$600 exit hidden by our reduce's closing fill"
    assert lock.until == d.now + timedelta(minutes=60), lock.detail
    assert "net -600.00" in lock.detail


def test_our_reduce_then_his_exit_closing_the_trip_is_judged_on_his_exits_only() -> None:
    d = Driver(make_engine(RULES))
    ours = _over_by_one(d)
    d.send(
        order(ours, MNQ, Side.SELL, 1, type=OrderType.MARKET, status=OrderStatus.FILLED),
        fill(MNQ, Side.SELL, 1, "20700", pnl="-200", order_id=ours, at=d.now),
        position(MNQ, 3, "21000", at=d.now),
    )
    d.now += timedelta(seconds=5)
    d.send(fill(MNQ, Side.SELL, 3, "20800", pnl="-600", order_id=next(_ids), at=d.now))
    d.send(flat(MNQ, at=d.now))
    lock = d.acct.holds.get("RULE-008")
    assert lock is not None
    assert lock.until == d.now + timedelta(minutes=60), f"our -200 counted: {lock.detail}"


def test_our_close_of_everything_stays_ours_at_any_size_and_judges_nothing() -> None:
    """A flatten's close of the whole position (its size the gateway's): its fill of 2 heard
    before its order, at a loss over the top tier, closes a trip he exited none of."""
    d = Driver(make_engine(RULES, extra=[trip_on(Quote, DAILY)]))
    d.send(account())
    d.send(fill(MNQ, Side.BUY, 2, "21000", order_id=next(_ids), at=d.now))
    d.send(position(MNQ, 2, "21000", at=d.now))
    d.send(quote(MNQ, "20000", at=d.now))
    assert len(closes(d.effects)) == 1
    d.send(fill(MNQ, Side.SELL, 2, "20000", pnl="-4000", order_id=next(_ids), at=d.now))
    d.send(flat(MNQ, at=d.now))
    assert d.acct.day.fills[-1].enforcement
    assert d.acct.day.trips[-1].his is None
    assert "RULE-008" not in d.acct.holds


def test_rule_011_counts_his_exits_from_a_trip_our_reduce_closed() -> None:
    """losses = 2: a losing round trip, then his losing exit of 3 beside our reduce of 1,
    ours closing the trip: his second loss in a row."""
    d = Driver(make_engine({MaxConsecutiveLosses: {"losses": "2"}, **RULES}))
    d.send(account())
    d.send(
        fill(MNQ, Side.BUY, 1, "21000", order_id=next(_ids), at=d.now),
        position(MNQ, 1, "21000", at=d.now),
        fill(MNQ, Side.SELL, 1, "20990", pnl="-20", order_id=next(_ids), at=d.now),
        flat(MNQ, at=d.now),
    )
    d.now += timedelta(minutes=1)
    ours = _over_by_one(d)
    his = next(_ids)
    kw = {"type": OrderType.LIMIT, "limit": "20990", "at": d.now}
    d.send(
        order(his, MNQ, Side.SELL, 3, **kw),  # type: ignore[arg-type]
        order(his, MNQ, Side.SELL, 3, status=OrderStatus.FILLED, **kw),  # type: ignore[arg-type]
        fill(MNQ, Side.SELL, 3, "20990", pnl="-15", order_id=his, at=d.now),
        order(ours, MNQ, Side.SELL, 1, type=OrderType.MARKET, status=OrderStatus.FILLED),
        fill(MNQ, Side.SELL, 1, "20990", pnl="0", order_id=ours, at=d.now),
        flat(MNQ, at=d.now),
    )
    assert "RULE-011" in d.acct.holds, "his second losing trip in a row not counted"


def test_rule_011_reset_recounts_his_exits_from_a_trip_our_reduce_closed() -> None:
    """Our clock 2 min behind the gateway's: his trip of the new day (his losing exit of 3,
    our reduce closing it) is booked before our clock reaches the reset, whose recount
    counts it as his loss (it counted nothing: the service took part)."""
    reset = datetime(2026, 11, 23, 23, 0, tzinfo=UTC)  # Monday 17:00 Chicago
    d = Driver(make_engine({MaxConsecutiveLosses: {"losses": "3"}, **RULES}))
    d.now = reset - timedelta(hours=1)
    d.send(account())
    stamp = reset + timedelta(seconds=30)
    d.now = stamp - timedelta(minutes=2)
    d.send(fill(MNQ, Side.BUY, 4, "21000", order_id=next(_ids), at=stamp))
    d.send(position(MNQ, 4, "21000", at=stamp))
    assert [r.size for r in reduces(d.effects)] == [1]
    ours, his = next(_ids), next(_ids)
    kw = {"type": OrderType.LIMIT, "limit": "20990", "at": stamp}
    d.send(
        order(ours, MNQ, Side.SELL, 1, type=OrderType.MARKET, status=OrderStatus.PENDING),
        order(his, MNQ, Side.SELL, 3, **kw),  # type: ignore[arg-type]
        order(his, MNQ, Side.SELL, 3, status=OrderStatus.FILLED, **kw),  # type: ignore[arg-type]
        fill(MNQ, Side.SELL, 3, "20990", pnl="-15", order_id=his, at=stamp),
        order(ours, MNQ, Side.SELL, 1, type=OrderType.MARKET, status=OrderStatus.FILLED),
        fill(MNQ, Side.SELL, 1, "20990", pnl="-5", order_id=ours, at=stamp),
        flat(MNQ, at=stamp),
    )
    d.at(reset)
    assert d.acct.rule_state["RULE-011"]["streak"] == 1


def test_the_platforms_liquidation_beside_our_reduce_is_not_his() -> None:
    """The account may not trade: a market sale of 4 not ours is the platform's, not his."""
    d = Driver(make_engine(RULES))
    _over_by_one(d)
    d.send(account(can_trade=False))
    _his_market_sale(d, 4, "-600")
    d.send(flat(MNQ, at=d.now))
    assert d.acct.day.fills[-1].enforcement
    assert "RULE-008" not in d.acct.holds


T = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)


def _flattening(seq: int, size: int, order: int | None = None) -> ContractModel:
    cm = ContractModel(1, MNQ)
    cm.close_seq, cm.close_size, cm.close_side, cm.close_order = seq, size, Side.SELL, order
    cm.close_sent_at = T
    return cm


def test_a_close_of_the_whole_position_could_be_any_size() -> None:
    sent, cm = SentCloses(), _flattening(1, 0)
    sent.sent(cm, T)
    assert sent.could_be(cm, 9, Side.SELL, 7, T + timedelta(seconds=1))
    assert not sent.could_be(cm, 9, Side.BUY, 7, T + timedelta(seconds=1))


def test_an_older_close_heard_of_late_could_be_ours_beside_the_newer_ones_known_order() -> None:
    """Reduce 1 (its order never heard of), then reduce 1 again, its order known as 20: an
    order 10 of 1 heard now could be the first; one of 2 could be neither; one heard before
    either went could be neither."""
    sent, cm = SentCloses(), _flattening(1, 1)
    sent.sent(cm, T)
    cm = _flattening(2, 1, order=20)
    sent.sent(cm, T + timedelta(seconds=10))
    later = T + timedelta(seconds=11)
    assert sent.could_be(cm, 10, Side.SELL, 1, later)
    assert not sent.could_be(cm, 10, Side.SELL, 2, later)
    assert not sent.could_be(cm, 10, Side.SELL, 1, T - timedelta(seconds=1))
    assert sent.could_be(cm, 20, Side.SELL, 1, later)


def test_a_close_sent_before_a_start_leaves_every_order_possibly_ours() -> None:
    sent, cm = SentCloses(), _flattening(5, 1, order=20)
    assert sent.could_be(cm, 10, Side.SELL, 4, T)  # nothing sent here
    sent.sent(_flattening(4, 1), T - timedelta(seconds=5))  # (not the one in flight)
    assert sent.could_be(cm, 10, Side.SELL, 4, T)


def test_his_exits_from_an_open_trip_are_kept_across_a_restart() -> None:
    """His sale of 3 (-600) fills, the service restarts, our reduce's fill closes the trip:
    judged on his -600 still (an open trip's part of his is kept with the account's state)."""
    d = Driver(make_engine(RULES))
    ours = _over_by_one(d)
    his = next(_ids)
    kw = {"type": OrderType.LIMIT, "limit": "20800", "at": d.now}
    d.send(
        order(his, MNQ, Side.SELL, 3, **kw),  # type: ignore[arg-type]
        order(his, MNQ, Side.SELL, 3, status=OrderStatus.FILLED, **kw),  # type: ignore[arg-type]
        fill(MNQ, Side.SELL, 3, "20800", pnl="-600", order_id=his, at=d.now),
    )
    d = restart(d, lambda: make_engine(RULES))
    assert d.acct.trips_open[MNQ].his == Decimal(-600)
    d.send(
        order(ours, MNQ, Side.SELL, 1, type=OrderType.MARKET, status=OrderStatus.FILLED),
        fill(MNQ, Side.SELL, 1, "20700", pnl="-200", order_id=ours, at=d.now),
        flat(MNQ, at=d.now),
    )
    assert d.acct.day.fills[-1].enforcement
    lock = d.acct.holds.get("RULE-008")
    assert lock is not None and "net -600.00" in lock.detail
