"""Found by a review: our RULE-014 close was sent and the service died; while it was down the
close filled, then the trader bought 2 MNQ again and sold them at a loss. The restart's read
confirms the contract flat before its trades come: our close's fill is ours, but the trader's
sale (on our close's side, after it was sent) is his, and RULE-008 judges its loss."""

from __future__ import annotations

from datetime import timedelta

from fsm_risk.core.effects import ClosePosition
from fsm_risk.core.events import Listing, Side, Tick, TradesSnapshot
from fsm_risk.core.states import State
from fsm_risk.rules.position_stop_loss import PositionStopLoss
from fsm_risk.rules.trade_cooldown import TradeCooldown
from tests.factories import ACC, MNQ, T0, Driver, account, fill, make_engine, position, quote


def test_his_losing_trip_after_our_close_filled_while_down_fires_rule_008() -> None:
    d = Driver(
        make_engine({PositionStopLoss: {"limit": "250"}, TradeCooldown: {"tiers": "100:15"}})
    )
    bought = fill(MNQ, Side.BUY, 2, "21000", order_id=1, trade_id=501, at=T0)
    d.send(account(), bought, position(MNQ, 2, "21000"), quote(MNQ, "21000"))
    acct = d.acct
    out = d.send(quote(MNQ, "20850"))  # -$600 open: past the $250 stop loss
    assert [e for e in out if isinstance(e, ClosePosition)]
    assert acct.contracts[MNQ].state is State.Flattening
    sent = acct.contracts[MNQ].close_sent_at
    assert sent is not None
    # the service dies; at the restart the read lists no position, the trades to follow
    d.now = T0 + timedelta(minutes=10)
    d.send(Listing(ACC, frozenset(), frozenset(), frozenset({MNQ}), frozenset(), frozenset({501}),
                   behind=True))  # fmt: skip
    assert acct.contracts.get(MNQ) is None or acct.contracts[MNQ].state is State.Trading
    minute = timedelta(minutes=1)
    ours = fill(MNQ, Side.SELL, 2, "20850", pnl="-300", order_id=77, trade_id=502, at=T0)
    his_buy = fill(MNQ, Side.BUY, 2, "20850", order_id=78, trade_id=503, at=T0 + 2 * minute)
    his_sale = fill(
        MNQ, Side.SELL, 2, "20775", pnl="-300", order_id=79, trade_id=504, at=T0 + 3 * minute
    )
    trades = (bought, ours, his_buy, his_sale)
    d.send(TradesSnapshot(ACC, acct.week.start, trades, frozenset({501})), Tick(ACC))
    assert acct.behind is None and acct.day.realized == -600  # both losses booked
    assert [(t.net, t.enforced) for t in acct.day.trips] == [(-300, True), (-300, False)]
    assert acct.state is not State.Trading  # his -$300: RULE-008 cools the account down
