"""A restart that missed two (or more) daily resets applies each of them, so RULE-004's
end_of_day peak takes the equity at every end of day passed while stopped.

Found by a hunt: only the last missed reset was applied (and replayed once the trades were
read), so an earlier end of day's higher equity was never the peak and the floor came out
as much lower (here 48,100 instead of 49,500: 1,400 more to lose than the firm allows).

Peak 50,000, drawdown 2,000, end_of_day. The service stops Monday 09:00 CST (flat). While it
is down the trader makes +1,500 on Monday (Monday's end-of-day equity 51,500) and gives back
1,400 on Tuesday (Tuesday's end of day 50,100). The service starts again Wednesday 09:00 CST.
The firm's end-of-day peak is 51,500 (floor 49,500). The service's must be the same."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial

from fsm_risk.core.events import Fill
from fsm_risk.core.states import State
from fsm_risk.rules.trailing_drawdown import TrailingDrawdown
from tests.factories import (
    MNQ,
    Driver,
    Side,
    account,
    fill,
    gateway_read,
    restart,
    rule_engine,
)

D = Decimal
T0 = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # Mon 09:00 CST: the service stops
WEDNESDAY = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)  # Wed 09:00 CST: it starts again
end_of_day = partial(rule_engine, TrailingDrawdown, drawdown="2000", mode="end_of_day")


def whole_read(d: Driver, trades: list[Fill], balance: str) -> None:
    since = min(d.acct.week.start, d.acct.day.start)
    gateway_read(d, *trades, account(balance), trades=trades, since=since)
    d.effects.extend(d.engine.resume(d.acc, set(), d.now))


def test_two_missed_end_of_day_resets_take_the_higher_first_one() -> None:
    d = Driver(end_of_day(), now=T0)
    d.send(account("50000"))
    mon = T0 + timedelta(hours=1)  # Mon 10:00 CST
    tue = T0 + timedelta(days=1, hours=1)  # Tue 10:00 CST
    trades = [
        fill(MNQ, Side.BUY, 3, "21000", order_id=70, at=mon),
        fill(MNQ, Side.SELL, 3, "21250", pnl="1500", order_id=71, at=mon + timedelta(minutes=5)),
        fill(MNQ, Side.BUY, 2, "21250", order_id=72, at=tue),
        fill(MNQ, Side.SELL, 2, "20900", pnl="-1400", order_id=73, at=tue + timedelta(minutes=5)),
    ]
    again = restart(d, end_of_day, at=WEDNESDAY)
    whole_read(again, trades, "50100")
    memo = again.acct.rule_state["RULE-004"]
    # the trader now loses another 700: equity 49,400, under the firm's floor of 49,500
    again.send(
        fill(MNQ, Side.BUY, 1, "20900", order_id=80, at=again.now),
        fill(MNQ, Side.SELL, 1, "20550", pnl="-700", order_id=81, at=again.now),
    )  # the balance confirms them (a read that knows both trades)
    again.send(dataclasses.replace(account("49400"), applied=frozenset(again.acct.seen_trades)))
    assert D(memo["peak"]) == D("51500")
    assert again.acct.state is not State.Trading
