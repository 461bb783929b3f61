"""What a restart or a crash must never do: leave held contracts without quotes, or re-send a
close beside one still working at the gateway (the real SDK against the paper gateway)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from fsm_risk.core.states import State
from fsm_risk.paper.gateway import GatewayEvent
from tests.e2e.service_harness import Harness

DAILY_LOSS = "[rule.daily_loss_limit]\nlimit = 500\n"
MAX_CONTRACTS = "[rule.max_contracts]\nlimit = 3\n"
MNQ = "CON.F.US.MNQ.Z26"


def freeze(h: Harness) -> None:
    """From this instant nothing more reaches the database: what a SIGKILL leaves behind."""
    store: Any = h.svc.store
    store.commit = lambda *args, **kwargs: None
    store.save_marks = lambda *args, **kwargs: None


async def crash(h: Harness) -> None:
    """The process dies: the database keeps only what was committed before `freeze`."""
    assert h.task is not None and h.service is not None
    freeze(h)
    h.task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await h.task
    h.service.store.close()
    h.service = h.task = None


@pytest.mark.parametrize("how", ["stop", "crash"])
async def test_after_a_restart_held_contracts_get_quotes_and_a_fall_is_enforced(
    h: Harness, how: str
) -> None:
    await h.start(DAILY_LOSS)
    h.trade("MNQ", "buy", 2)
    await h.gw_until(lambda: h.gateway.quote_subscribers(MNQ) == 1, "quotes watched")
    await (h.stop() if how == "stop" else crash(h))
    await h.gw_until(lambda: h.gateway.quote_subscribers(MNQ) == 0, "the old connection gone")
    await h.start()
    await h.gw_until(lambda: h.gateway.quote_subscribers(MNQ) == 1, "quotes watched again")
    assert h.svc.broker.subscribed == {MNQ}
    h.gateway.move_price("MNQ", -600)  # -$600 on 2 MNQ: past the $500 limit
    await h.until(lambda: h.acct.state is State.LockedDaily, "locked by RULE-003")
    assert h.position("MNQ") == 0


async def test_quotes_are_subscribed_again_after_the_market_hub_reconnects(h: Harness) -> None:
    await h.start(DAILY_LOSS)
    h.trade("MNQ", "buy", 2)
    await h.gw_until(lambda: h.gateway.quote_subscribers(MNQ) == 1, "quotes watched")
    assert await h.gateway.drop_websockets("market") > 0
    await h.gw_until(lambda: h.gateway.quote_subscribers(MNQ) == 1, "watched again", 30)
    h.gateway.move_price("MNQ", -600)
    await h.until(lambda: h.acct.state is State.LockedDaily, "locked by RULE-003")


async def test_a_close_working_when_the_service_died_is_not_sent_again(h: Harness) -> None:
    await h.start(MAX_CONTRACTS)
    h.trade("MNQ", "buy", 8)
    h.gateway.set_fill_delay(4.0)  # the trader's buy filled; the service's reduce will wait

    def die_on_the_reduce(ev: GatewayEvent) -> None:
        # the reduce has reached the gateway; the service dies before hearing of it
        if ev.kind == "order_received" and ev.data.source == "partial_close":
            freeze(h)

    h.gateway.add_listener(die_on_the_reduce)
    await h.gw_until(lambda: h.closes("MNQ"), "the reduce reached the gateway")
    h.gateway.remove_listener(die_on_the_reduce)
    await crash(h)
    h.gateway.set_fill_delay(0)
    h.clock.advance(seconds=5)  # the stored retry is due at the restart
    await h.start()
    await h.gw_until(lambda: h.position("MNQ") == 3, "the first reduce filled", 30)
    await h.until(lambda: h.contract_state(MNQ) is State.Trading, "confirmed")
    assert [c.size for c in h.closes("MNQ")] == [5]  # nothing re-sent: never short
    assert h.position("MNQ") == 3
