"""A position held at the stop across several missed end-of-day resets is valued at the
gateway's price at each of them.

Found by a review of 86a8f14 (which applies each missed daily reset): the shell still asked
the gateway for the price at the last missed daily and weekly reset only
(`timers.missed_resets`), so every earlier end of day valued the held position at the price
of the stop: here the peak 50,000 where the firm's is 51,800.

Long 3 MNQ at 21,000 (quote 21,000, equity 50,000) when the service stops Monday 09:00 CST.
MNQ closes Monday's trading day (17:00 CST) at 21,300: the firm's end-of-day equity 51,800,
its peak 51,800, floor 49,800. Tuesday 17:00 CST: MNQ back at 21,000 (equity 50,000, above the
floor). Restarted Wednesday 09:00 CST, the shell reads the prices `missed_resets` asks for.
The trader then falls to 20,850 (equity 49,100): the firm's account is blown; the service
must not still be Trading."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial

from fsm_risk.core.states import State
from fsm_risk.core.timers import missed_resets
from fsm_risk.rules.trailing_drawdown import TrailingDrawdown
from tests.factories import MNQ, Driver, account, position, quote, restart, rule_engine
from tests.unit.test_missed_reset_trades_while_down import two_step_read

D = Decimal
MON_EOD = datetime(2026, 11, 23, 23, 0, tzinfo=UTC)  # Mon 17:00 CST
TUE_EOD = datetime(2026, 11, 24, 23, 0, tzinfo=UTC)  # Tue 17:00 CST
WEDNESDAY = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)  # Wed 09:00 CST
#: the gateway's one-minute bar close at each reset (what `_read_prices` would return)
GATEWAY = {MON_EOD: D("21300"), TUE_EOD: D("21000")}
end_of_day = partial(rule_engine, TrailingDrawdown, drawdown="2000", mode="end_of_day")


def test_every_missed_end_of_day_is_priced_for_a_held_position() -> None:
    d = Driver(end_of_day())
    d.send(account("50000"), position(MNQ, 3, "21000"), quote(MNQ, "21000"))
    snap = json.loads(json.dumps(d.acct.to_dict()))
    wanted = missed_resets(d.engine.calendar, snap, WEDNESDAY)  # what the shell reads
    at_reset: dict[datetime, dict[str, Decimal]] = {}
    for at, cid in wanted:
        at_reset.setdefault(at, {})[cid] = GATEWAY[at]
    again = restart(d, end_of_day, at=WEDNESDAY, at_reset=at_reset)
    peak = D(again.acct.rule_state["RULE-004"]["peak"])
    assert peak == D("51800"), f"the end-of-day peak is {peak}, the firm's is 51,800"


def test_held_position_floor_breach_after_restart() -> None:
    d = Driver(end_of_day())
    d.send(account("50000"), position(MNQ, 3, "21000"), quote(MNQ, "21000"))
    snap = json.loads(json.dumps(d.acct.to_dict()))
    at_reset: dict[datetime, dict[str, Decimal]] = {}
    for at, cid in missed_resets(d.engine.calendar, snap, WEDNESDAY):
        at_reset.setdefault(at, {})[cid] = GATEWAY[at]
    again = restart(d, end_of_day, at=WEDNESDAY, at_reset=at_reset)
    # the start-up read of an exposed account: nothing traded while stopped, still long 3
    two_step_read(again, [], "50000", [position(MNQ, 3, "21000")])
    assert again.acct.state is State.Trading  # 50,000 at 21,000: above either floor
    again.send(quote(MNQ, "20850", at=WEDNESDAY))
    assert again.acct.state is not State.Trading
