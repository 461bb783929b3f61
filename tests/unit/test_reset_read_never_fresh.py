"""Found by a review: the price read at a live reset (the last trade before it: at the default 17:00
Chicago reset, the 15:59 bar's close before the halt) became the contract's mark stamped at
the reset's instant, so for `stale_after` (30 s) after the reset it was taken for a FRESH quote.
A position learned of just after the reset, with contracts bought at the reopen (the gap), is
valued at the pre-halt price as though it were the market now.

Long 3 MNQ bought 15:30 at 21,000 (the user hub silent); MNQ closes 21,000 at 16:00; the
market reopens at 17:00 and the trader buys 5 more at the reopen's price; the engine learns
of it all at 17:00:08 and the read answers 21,000 at 17:00:09; no MNQ quote yet (the feed
silent like the user hub, or a thin contract)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from fsm_risk.core.events import PriceAt, PricesAtReset, Side, Tick
from fsm_risk.core.states import State
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from fsm_risk.rules.trailing_drawdown import TrailingDrawdown
from tests.factories import (
    ACC,
    MNQ,
    Driver,
    account,
    fill,
    gateway_read,
    make_engine,
    position,
    quote,
    start_up_read,
)
from tests.unit.test_offline_change_after_missed_reset import MON_STOP, _seed
from tests.unit.test_stale_after_missed_reset import _start

D = Decimal
RESET = datetime(2026, 11, 23, 23, 0, tzinfo=UTC)  # Monday 17:00 CST: the default reset
BOUGHT = RESET - timedelta(minutes=90)  # 15:30 CST
REOPEN_BUY = RESET + timedelta(seconds=5)


def _learned_after(rules: dict, reopen: str, avg: str) -> Driver:
    d = Driver(make_engine(rules), now=RESET - timedelta(hours=2))
    d.send(account("50000"))
    d.now = RESET + timedelta(seconds=8)
    gateway_read(
        d,
        fill(MNQ, Side.BUY, 3, "21000", order_id=8, at=BOUGHT),
        fill(MNQ, Side.BUY, 5, reopen, order_id=9, at=REOPEN_BUY),
        account("50000"),
        position(MNQ, 8, avg, at=BOUGHT),
    )
    assert d.acct.day.start == RESET
    d.now = RESET + timedelta(seconds=9)
    d.send(PricesAtReset(ACC, (PriceAt(RESET, MNQ, D("21000")),)))  # the 15:59 close
    assert d.acct.day.carry == 0  # 3 held at the reset, at 21,000
    d.now += timedelta(seconds=1)
    d.send(Tick(ACC))  # any event of the account's within 30 s of the reset (a wake-up)
    return d


def test_gap_up_a_pre_halt_price_read_is_no_fresh_quote_false_lock() -> None:
    """MNQ reopens at 21,100: the day is truly +600 (3 held from 21,000, 5 bought at the
    price). At the read's 21,000 the 8 are -1,000: the $1,000 limit must not fire on it."""
    d = _learned_after({DailyLossLimit: {"limit": "1000"}}, "21100", "21062.5")
    assert d.acct.state is State.Trading, "flattened and locked on a price an hour old"


def test_gap_down_a_pre_halt_price_read_raises_no_rule_004_peak() -> None:
    """MNQ reopens at 20,900: equity truly 49,400 (8 from avg 20,937.5 at 20,900: -600). At
    the read's 21,000 it reads 51,000: the intraday peak must not rise to it; else, once the
    quotes come, a real $1,000 fall from 50,000 reads as $2,000 from 51,000: locked."""
    rules = {TrailingDrawdown: {"drawdown": "2000", "mode": "intraday", "freeze_at_start": "false"}}
    d = _learned_after(rules, "20900", "20937.5")
    memo = d.acct.rule_state["RULE-004"]
    d.now += timedelta(seconds=1)
    d.send(quote(MNQ, "20900", at=d.now))  # the feed back: the truth, 49,400
    d.now += timedelta(seconds=1)
    d.send(quote(MNQ, "20875", at=d.now))  # 49,000: $1,000 below the true peak of 50,000
    assert D(memo["peak"]) == 50000, "the peak rose to an equity the market never gave"
    assert d.acct.state is State.Trading, "locked for the week at a real $1,000 drawdown"


def test_gap_down_the_read_is_no_room_for_a_loss_on_another_contract() -> None:
    """MNQ reopens at 20,900 and stays quiet (no quote: the feed frozen). Truly MNQ made -600
    today (3 from 21,000 at 20,900); 1 MES bought at 6,000 then falls. Before the read was a
    mark (MNQ unvalued: no room, its -600 unseen) the $1,000 limit fired at MES 5,800 (a real
    -1,600). At the read's 21,000 the 5 bought at 20,900 read +1,000, a stale gain the limit
    counts as room: it fires only at MES 5,600 (a real -2,600), $1,000 later."""
    d = _learned_after({DailyLossLimit: {"limit": "1000"}}, "20900", "20937.5")
    d.now += timedelta(minutes=1)  # the read's mark stale now; MNQ still quiet
    d.send(
        fill("CON.F.US.MES.Z26", Side.BUY, 1, "6000", order_id=10, at=d.now),
        position("CON.F.US.MES.Z26", 1, "6000", at=d.now),
    )
    fired_at = None
    for price in range(6000, 5400, -20):
        d.send(quote("CON.F.US.MES.Z26", str(price), at=d.now))
        if d.acct.state is not State.Trading:
            fired_at = price
            break
    assert fired_at == 5800, f"fired at MES {fired_at}: the read's phantom +1,000 was room"


def test_a_part_sold_since_the_reset_leaves_the_rest_valued_at_the_read() -> None:
    """The control for the fix: long 5 held across the reset (21,000 then: carried 0), 2 sold
    at the reopen at 20,900 (-400 since the reset): the 3 left were all held at the reset,
    and the read still values them (made 0 since it). The day reads -400, MNQ quiet."""
    d = Driver(make_engine({DailyLossLimit: {"limit": "1000"}}), now=RESET - timedelta(hours=2))
    d.send(account("50000"))
    d.now = RESET + timedelta(minutes=1)
    gateway_read(
        d,
        fill(MNQ, Side.BUY, 5, "21000", order_id=8, at=BOUGHT),
        fill(MNQ, Side.SELL, 2, "20900", pnl="-400", order_id=9, at=REOPEN_BUY),
        account("49600"),
        position(MNQ, 3, "21000", at=BOUGHT),
    )
    d.send(PricesAtReset(ACC, (PriceAt(RESET, MNQ, D("21000")),)))
    assert d.acct.day.carry == 0
    assert d.engine.valuation.last_mark(MNQ) is not None
    assert d.acct.positions[MNQ].priced
    assert d.acct.day_pnl(with_unrealized=True) == -400


def test_another_holder_is_not_judged_on_the_read_as_a_fresh_quote() -> None:
    """Account B held long 3 MNQ through the reset (known live: its last quote 15:59:59 at
    21,000, the feed silent since) and bought 5 more at the reopen at 21,100: truly +600
    today. Account A's position learned of after the reset has MNQ read at 21,000: the read
    must not make B's pre-halt price a fresh quote, on which B reads -1,000 and is locked."""
    b = 1002
    d = Driver(make_engine({DailyLossLimit: {"limit": "1000"}}), now=BOUGHT, acc=b)
    d.send(account("50000", acc=b))
    d.send(fill(MNQ, Side.BUY, 3, "21000", order_id=20, acc=b, at=d.now))
    d.send(position(MNQ, 3, "21000", acc=b, at=d.now))
    d.now = RESET - timedelta(hours=1, seconds=1)
    d.send(quote(MNQ, "21000", at=d.now))  # 15:59:59, the halt next
    d.now = REOPEN_BUY
    d.send(fill(MNQ, Side.BUY, 5, "21100", order_id=21, acc=b, at=d.now))
    d.send(position(MNQ, 8, "21062.5", acc=b, at=d.now))
    assert d.acct.state is State.Trading  # B's MNQ stale: its -1,000 at 21,000 not counted
    a = Driver(d.engine, now=RESET - timedelta(hours=2))
    a.send(account("50000"))
    a.now = RESET + timedelta(seconds=8)
    gateway_read(
        a,
        fill(MNQ, Side.BUY, 3, "21000", order_id=8, at=BOUGHT),
        account("50000"),
        position(MNQ, 3, "21000", at=BOUGHT),
    )
    a.now = RESET + timedelta(seconds=9)
    a.send(PricesAtReset(ACC, (PriceAt(RESET, MNQ, D("21000")),)))
    d.now = RESET + timedelta(seconds=10)
    d.send(Tick(b))
    assert d.acct.state is State.Trading, "B locked on A's read of the pre-halt price"


def test_a_restart_just_after_a_missed_reset_takes_no_read_for_a_fresh_quote(
    tmp_path: Path,
) -> None:
    """The same at a restore (it held before the reviewed commits too): stopped Monday 09:00
    with long 3 MNQ, started 10 s after the 17:00 reset; 5 more bought at the reopen at
    21,100 while stopped; the read at the reset 21,000. Truly +600 today: no lock."""
    settings, store = _seed(tmp_path)
    now = RESET + timedelta(seconds=10)
    d = Driver(_start(settings, store, D("21000"), now=now), now=now)
    start_up_read(
        d,
        fill(MNQ, Side.BUY, 5, "21100", order_id=9, at=REOPEN_BUY),
        account("50000"),
        position(MNQ, 8, "21062.5", at=MON_STOP),
    )
    d.now += timedelta(seconds=1)
    d.send(Tick(ACC))
    assert d.acct.state is State.Trading, "flattened and locked on the close before the halt"
