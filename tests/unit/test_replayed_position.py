"""A position record larger than the fills make, with none on their way, is not acted on.

Reported: max_contracts 3 on MNQ; the trader buys 5 and the service reduces to 3 (the gateway
says 5, then 3). The record "size 5" then arrives again (a replay, the real gateway's trimmed
shape): taken as the gateway's word, the rule reduced 5 -> 3 once more and the gateway held 1,
two contracts the trader was allowed, lost. Now such a record is held (see `core.doubted`):
no rule sees it, the account is read at once, and only a read or a fill confirms it; with
neither within the settle timeout, it is acted on (fail closed)."""

from __future__ import annotations

from dataclasses import replace
from functools import partial

from fsm_risk.core.effects import Alert, Effect
from fsm_risk.core.events import OrderStatus, OrderType, Side
from fsm_risk.core.reasons import Reason
from fsm_risk.core.states import State
from fsm_risk.rules.max_contracts import MaxContracts
from tests.factories import (
    MNQ,
    Driver,
    alerts,
    fill,
    gateway_read,
    order,
    position,
    reads,
    reduces,
    rule_driver,
)

driver = partial(rule_driver, MaxContracts, limit="3")
BUY, CLOSE = 5, 99


def unconfirmed(effects: list[Effect]) -> list[Alert]:
    return [a for a in alerts(effects) if a.reason is Reason.POSITION_UNCONFIRMED]


def reduced_to_three() -> Driver:
    """The trader's buy of 5 (order, trade, position), our reduce of 2 filled: 3 held."""
    d = driver()
    d.send(order(BUY, MNQ, Side.BUY, 5, type=OrderType.MARKET, status=OrderStatus.FILLED))
    d.send(fill(MNQ, Side.BUY, 5, "21000.25", order_id=BUY))
    assert [r.size for r in reduces(d.send(position(MNQ, 5, "21000.25")))] == [2]
    d.send(order(CLOSE, MNQ, Side.SELL, 2, type=OrderType.MARKET))  # our reduce's order
    d.send(
        order(CLOSE, MNQ, Side.SELL, 2, type=OrderType.MARKET, status=OrderStatus.FILLED),
        fill(MNQ, Side.SELL, 2, "21000.25", pnl="0", order_id=CLOSE),
        position(MNQ, 3, "21000.25"),
    )
    cm = d.acct.contracts.get(MNQ)
    assert cm is None or cm.state is State.Trading
    assert d.acct.positions[MNQ].size == 3 and d.acct.net[MNQ] == 3
    return d


def test_a_replayed_larger_position_is_not_reduced_and_the_account_is_read_at_once() -> None:
    d = reduced_to_three()
    out = d.send(position(MNQ, 5, "21000.25"))  # the size-5 record again
    assert reduces(out) == []
    assert [r.contract_id for r in reads(out)] == [MNQ]
    [alert] = unconfirmed(out)
    assert "+5" in alert.message and "+3" in alert.message
    assert d.acct.positions[MNQ].size == 3  # the position held stays as it is
    # the same record again asks nothing more
    out = d.send(position(MNQ, 5, "21000.25"))
    assert reduces(out) == [] and reads(out) == [] and unconfirmed(out) == []
    # the read lists 3: the record was stale, nothing is reduced, now or later
    out = gateway_read(d, replace(position(MNQ, 3, "21000.25"), snapshot=True))
    out += d.advance(seconds=30)
    assert reduces(out) == [] and d.acct.positions[MNQ].size == 3
    assert not d.acct.doubted


def test_a_read_that_does_not_list_the_contract_denies_a_replayed_record() -> None:
    d = reduced_to_three()
    d.send(
        fill(MNQ, Side.SELL, 3, "21000.25", pnl="0", order_id=7),
        position(MNQ, 0, "0"),
    )
    assert MNQ not in d.acct.positions
    out = d.send(position(MNQ, 5, "21000.25"))  # a record from before the exit
    assert reduces(out) == [] and MNQ not in d.acct.positions
    out = gateway_read(d)  # flat at the gateway
    out += d.advance(seconds=30)
    assert reduces(out) == [] and MNQ not in d.acct.positions and not d.acct.doubted


def test_no_read_within_the_settle_timeout_fails_closed_on_the_larger_size() -> None:
    d = reduced_to_three()
    d.send(position(MNQ, 5, "21000.25"))
    assert reduces(d.advance(seconds=9)) == []
    out = d.advance(seconds=1)  # the read failed or is late: the gateway's word is taken
    assert [r.size for r in reduces(out)] == [2]
    assert unconfirmed(out) and d.acct.positions[MNQ].size == 5


def test_a_position_before_its_trade_is_reduced_as_soon_as_the_trade_explains_it() -> None:
    """No order record came first: the position ahead of its trade waits for the trade
    (milliseconds behind it), never for the read."""
    d = reduced_to_three()
    assert reduces(d.send(position(MNQ, 6, "21000.25"))) == []
    out = d.send(fill(MNQ, Side.BUY, 3, "21000.25", order_id=8))
    assert [r.size for r in reduces(out)] == [3]
    assert not d.acct.doubted and d.acct.positions[MNQ].size == 6


def test_a_position_ahead_of_its_trade_for_an_order_told_filled_is_reduced_at_once() -> None:
    d = reduced_to_three()
    d.send(order(8, MNQ, Side.BUY, 3, type=OrderType.MARKET, status=OrderStatus.FILLED))
    out = d.send(position(MNQ, 6, "21000.25"))
    assert [r.size for r in reduces(out)] == [3] and reads(out) == []


def test_a_doubted_record_moves_nothing_a_reduce_is_sized_on() -> None:
    """While a replayed 5 is held, a real add of 1 (4 held) is reduced by 1, not by 2."""
    d = reduced_to_three()
    d.send(position(MNQ, 5, "21000.25"))
    out = d.send(
        order(9, MNQ, Side.BUY, 1, type=OrderType.MARKET, status=OrderStatus.FILLED),
        fill(MNQ, Side.BUY, 1, "21000.25", order_id=9),
        position(MNQ, 4, "21000.25"),
    )
    assert [r.size for r in reduces(out)] == [1]
    assert not d.acct.doubted


def test_a_read_begun_before_a_held_record_does_not_drop_it() -> None:
    """MNQ flat (traded earlier); a read begins; the trader buys 5 (limit 3) and the position
    record +5 comes ahead of its trade: held. The read, begun before the buy, lists no MNQ:
    it dropped the held record though it is older than it, and when the trade came the 5
    were never reduced. A record that came while the read ran stays held for its own read."""
    from datetime import timedelta

    d = driver()
    d.send(fill(MNQ, Side.BUY, 1, "21000", order_id=1), position(MNQ, 1, "21000"))
    d.send(fill(MNQ, Side.SELL, 1, "21000", pnl="0", order_id=2), position(MNQ, 0, "0"))
    began = d.now
    d.now += timedelta(milliseconds=200)
    out = d.send(position(MNQ, 5, "21000.25"))  # ahead of its trade: held
    assert reduces(out) == [] and reads(out)
    out = gateway_read(d, began=began)  # the read in flight since before the buy: flat
    assert MNQ in d.acct.doubted
    out += d.send(fill(MNQ, Side.BUY, 5, "21000.25", order_id=3))
    out += d.advance(seconds=30)
    assert [r.size for r in reduces(out)] == [2], (d.acct.net.get(MNQ), d.acct.positions)
