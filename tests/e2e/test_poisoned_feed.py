"""Poisoned prices and positions, and stale marks, through the real SDK and the paper gateway:
a forged record or a stale price must never end monitoring, freeze a mark or make a lock."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from fsm_risk.core.states import State
from fsm_risk.paper.hub import invocation
from tests.e2e.service_harness import ACCOUNT, Harness
from tests.e2e.test_hostile_records import push_raw

DAILY_LOSS = "[rule.daily_loss_limit]\nlimit = 500\n"
MNQ = "CON.F.US.MNQ.Z26"
MES = "CON.F.US.MES.Z26"


def quote_text(contract: str, **fields: object) -> str:
    return invocation("GatewayQuote", [contract, fields])


async def test_a_forged_flat_position_is_confirmed_over_rest_and_monitoring_goes_on(
    h: Harness,
) -> None:
    await h.start(DAILY_LOSS)
    h.trade("MES", "buy", 2)
    await h.gw_until(lambda: h.gateway.quote_subscribers(MES) == 1, "MES watched")
    fake = {
        "id": 1,
        "accountId": ACCOUNT,
        "contractId": MES,
        "creationTimestamp": h.clock.now().isoformat(),
        "type": 1,
        "size": 0,
        "averagePrice": 0,
    }
    reconciled = h.svc.reconciler.started
    assert push_raw(h.gateway, "user", invocation("GatewayUserPosition", [fake]))
    await h.until(lambda: h.svc.reconciler.started > reconciled, "confirmed over REST")
    await h.until(lambda: not h.svc.reconciler.busy, "the reconciliation applied")
    assert MES in h.acct.positions and h.acct.positions[MES].size == 2
    h.gateway.move_price("MES", -250)  # 2 MES x -62.5 points = -$625
    await h.until(lambda: h.acct.state is State.LockedDaily, "locked by RULE-003")
    assert h.position("MES") == 0


async def test_poisoned_quotes_are_refused_and_never_freeze_the_mark(h: Harness) -> None:
    await h.start(DAILY_LOSS)
    h.trade("MNQ", "buy", 2)
    await h.gw_until(lambda: h.gateway.quote_subscribers(MNQ) == 1, "MNQ watched")
    seen = h.svc.malformed
    # one at a time: the SDK forwards only the latest pending quote of a contract
    future = quote_text(MNQ, lastPrice=21000, timestamp="2099-01-01T00:00:00Z")
    push_raw(h.gateway, "market", future)
    await h.until(lambda: h.svc.malformed >= seen + 1, "refused: stamped in the future")
    push_raw(h.gateway, "market", quote_text(MNQ, lastPrice="9" * 5000))
    await h.until(lambda: h.svc.malformed >= seen + 2, "refused: not a plausible price")
    mark = h.svc.engine.marks.get(MNQ)
    assert mark is None or mark.at.year < 2099  # nothing frozen
    h.gateway.move_price("MNQ", -600)  # a real -$600 move is seen and enforced
    await h.until(lambda: h.acct.state is State.LockedDaily, "locked by RULE-003")
    stored = h.svc.store.marks()
    assert all(m.at.year < 2099 for m in stored.values())


async def test_quotes_for_contracts_nobody_holds_cost_nothing(h: Harness) -> None:
    await h.start(DAILY_LOSS)
    h.trade("MNQ", "buy", 1)
    await h.gw_until(lambda: h.gateway.quote_subscribers(MNQ) == 1, "MNQ watched")
    unknown = [f"CON.F.US.ZZ{i}.Z26" for i in range(3000)]
    text = "".join(quote_text(c, lastPrice=100 + i % 7) for i, c in enumerate(unknown))
    push_raw(h.gateway, "market", text)
    h.gateway.move_price("MNQ", -4)  # a quote after them: when it is handled, so are they
    mark = h.svc.engine.marks.get(MNQ)
    await h.until(
        lambda: h.svc.engine.marks.get(MNQ) is not mark and h.svc.engine.marks.get(MNQ),
        "the MNQ quote after them handled",
    )
    assert set(h.svc.engine.marks) == {MNQ}
    h.svc.store.save_marks(h.svc.engine.marks)
    assert not set(h.svc.store.marks()) & set(unknown)


@pytest.mark.parametrize("back", ["after the linger", "within the linger"])
async def test_a_stale_mark_never_values_a_new_position(h: Harness, back: str) -> None:
    await h.start(DAILY_LOSS)
    h.trade("MNQ", "buy", 1)
    await h.gw_until(lambda: h.gateway.quote_subscribers(MNQ) == 1, "MNQ watched")
    h.gateway.move_price("MNQ", -800)  # -200 points: -$400 on 1 MNQ (inside the limit)
    await h.until(lambda: h.acct.open_upnl < Decimal("-350"), "valued")
    h.gateway.close_position(ACCOUNT, "MNQ")  # a -$400 round trip
    await h.until(lambda: MNQ not in h.svc.broker.watched, "flat")
    if back == "after the linger":
        await h.advance(seconds=301)  # past the shipped quote_linger_seconds
        await h.gw_until(lambda: h.gateway.quote_subscribers(MNQ) == 0, "unwatched when flat")
        h.gateway.move_price("MNQ", 800)  # the price recovers, unseen
        h.clock.advance(minutes=5)
    else:
        await h.advance(minutes=4)
        h.gateway.move_price("MNQ", 800)  # the price recovers: quoted, but to nobody
    h.trade("MNQ", "buy", 3)  # valued at the fresh price, not the stale one
    await h.gw_until(lambda: h.gateway.quote_subscribers(MNQ) == 1, "watched again")
    if back == "within the linger":
        await h.until(lambda: MNQ in h.svc.broker.watched, "held again")
        h.gateway.move_price("MNQ", 4)  # the next quote the hub sends
    await h.until(lambda: MNQ in h.acct.positions and h.acct.positions[MNQ].priced, "valued afresh")
    assert abs(h.acct.open_upnl) < 50  # the spread, not 3 x 200 points
    assert h.acct.state is State.Trading
    assert json.dumps(str(h.acct.day.realized)) != '"0"'
