"""A restart after a long stop redoes its missed resets in one pass over the trades.

Found by a review of 86a8f14 (every missed reset applied, not only the last): each trade of
the start-up read made while stopped redoes the resets, and each reset replayed every trade
before it from the stop, so the start-up read's cost grew with days missed x trades squared,
on the one loop that enforces every account: 84 s for a six-week stop with 2,520 trades (6 s
before that commit). The trades are now replayed once per redo, reset after reset."""

from __future__ import annotations

from datetime import timedelta
from functools import partial

import pytest

from fsm_risk.core import missed
from fsm_risk.rules.trailing_drawdown import TrailingDrawdown
from tests.factories import MNQ, T0, Driver, Side, account, fill, restart, rule_engine
from tests.unit.test_missed_resets_several_days import whole_read

end_of_day = partial(rule_engine, TrailingDrawdown, drawdown="2000", mode="end_of_day")
DAYS, PER_DAY = 10, 20


def test_each_redo_replays_each_trade_once(monkeypatch: pytest.MonkeyPatch) -> None:
    d = Driver(end_of_day(), now=T0)
    d.send(account("50000"))
    trades, oid = [], 100
    for day in range(DAYS):
        for k in range(PER_DAY // 2):
            at = T0 + timedelta(days=day, minutes=1 + 2 * k)
            trades.append(fill(MNQ, Side.BUY, 1, "21000", order_id=oid, at=at))
            trades.append(
                fill(MNQ, Side.SELL, 1, "21001", pnl="2", order_id=oid + 1, at=at + timedelta(1))
            )
            oid += 2
    again = restart(d, end_of_day, at=T0 + timedelta(days=DAYS, hours=1))
    resets = len(again.acct.missed.resets)
    assert resets >= DAYS
    replayed: list[int] = []
    redos: list[int] = []
    replay, redo = missed._replay, missed.MissedResets.redo

    def counted_replay(held, fills, valuation):  # type: ignore[no-untyped-def]
        fills = list(fills)
        replayed.append(len(fills))
        return replay(held, fills, valuation)

    def counted_redo(self, acct, rules, valuation):  # type: ignore[no-untyped-def]
        redos.append(len(self.trades))
        return redo(self, acct, rules, valuation)

    monkeypatch.setattr(missed, "_replay", counted_replay)
    monkeypatch.setattr(missed.MissedResets, "redo", counted_redo)
    whole_read(again, trades, str(50000 + len(trades)))
    assert len(redos) >= len(trades) // 2  # (each trade made while stopped redoes them)
    # each redo replays each trade it knows once, however many resets it redoes (the old
    # code replayed every trade before each reset again: about resets / 2 times as many)
    assert sum(replayed) <= sum(redos), (sum(replayed), sum(redos), resets)
