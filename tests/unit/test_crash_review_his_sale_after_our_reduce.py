"""Found by a review: RULE-002 reduces 3 MNQ to its limit of 2 (a reduce of 1 in flight) and the
service dies. While it is down the reduce fills, and the trader then sells his remaining 2 at a
loss. The restart's read confirms the contract flat before its trades come: the reduce's fill
is ours, the trader's sale of the rest (on the same side, after the reduce was sent) is his,
and RULE-008 judges its loss."""

from __future__ import annotations

from datetime import timedelta

from fsm_risk.core.effects import ReducePosition
from fsm_risk.core.events import Listing, Side, Tick, TradesSnapshot
from fsm_risk.core.states import State
from fsm_risk.rules.max_contracts_per_instrument import MaxContractsPerInstrument
from fsm_risk.rules.trade_cooldown import TradeCooldown
from tests.factories import ACC, MNQ, T0, Driver, account, fill, make_engine, position, quote


def test_his_sale_of_the_rest_after_our_reduce_filled_while_down_fires_rule_008() -> None:
    rules = {MaxContractsPerInstrument: {"limits": "MNQ: 2"}, TradeCooldown: {"tiers": "100:15"}}
    d = Driver(make_engine(rules))
    bought = fill(MNQ, Side.BUY, 3, "21000", order_id=1, trade_id=601, at=T0)
    d.send(account(), quote(MNQ, "21000"))
    out = d.send(bought, position(MNQ, 3, "21000"))
    acct = d.acct
    assert [e.size for e in out if isinstance(e, ReducePosition)] == [1]
    assert acct.contracts[MNQ].close_sent_at is not None
    d.now = T0 + timedelta(minutes=10)  # restarted: the read lists no position
    d.send(Listing(ACC, frozenset(), frozenset(), frozenset({MNQ}), frozenset(), frozenset({601}),
                   behind=True))  # fmt: skip
    minute = timedelta(minutes=1)
    ours = fill(MNQ, Side.SELL, 1, "21000", pnl="0", order_id=77, trade_id=602, at=T0)
    his = fill(MNQ, Side.SELL, 2, "20925", pnl="-300", order_id=78, trade_id=603, at=T0 + minute)
    d.send(TradesSnapshot(ACC, acct.week.start, (bought, ours, his), frozenset({601})), Tick(ACC))
    assert acct.behind is None and acct.day.realized == -300
    assert acct.state is not State.Trading  # his -$300 exit: RULE-008 cools the account down


def test_control_the_same_trades_heard_live_fire_rule_008() -> None:
    rules = {MaxContractsPerInstrument: {"limits": "MNQ: 2"}, TradeCooldown: {"tiers": "100:15"}}
    d = Driver(make_engine(rules))
    d.send(account(), quote(MNQ, "21000"))
    d.send(fill(MNQ, Side.BUY, 3, "21000", order_id=1, trade_id=701, at=T0))
    out = d.send(position(MNQ, 3, "21000"))
    assert [e.size for e in out if isinstance(e, ReducePosition)] == [1]
    # our reduce fills (its order id unknown to us yet, as after the restart), then his sale
    d.send(fill(MNQ, Side.SELL, 1, "21000", pnl="0", order_id=77, trade_id=702, at=T0))
    d.send(position(MNQ, 2, "21000"))
    d.now = T0 + timedelta(minutes=1)
    d.send(fill(MNQ, Side.SELL, 2, "20925", pnl="-300", order_id=78, trade_id=703, at=d.now))
    d.send(position(MNQ, 0, "21000"), Tick(ACC))
    assert d.acct.state is not State.Trading
