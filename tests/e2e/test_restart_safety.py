"""What a restart or a crash must never do: leave held contracts without quotes, or re-send a
close beside one still working at the gateway (the real SDK against the paper gateway)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from fsm_risk import logs
from fsm_risk import service as service_module
from fsm_risk.adapters.broker import ProjectXBroker
from fsm_risk.core.states import State
from fsm_risk.errors import FsmRiskError
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


async def test_the_stored_accounts_are_read_back_while_the_broker_logs_in(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each waits for the other to have begun: one after the other, neither would."""
    await h.start(MAX_CONTRACTS)
    h.trade("MNQ", "buy", 2)
    await h.until(lambda: MNQ in h.acct.positions, "the position held")
    await h.stop()
    restoring, logging_in = threading.Event(), threading.Event()
    restore, start = service_module.restore_all, ProjectXBroker.start

    def slow_restore(*args: Any, **kwargs: Any) -> Any:
        restoring.set()
        assert logging_in.wait(5), "the broker did not log in while the accounts were read"
        return restore(*args, **kwargs)

    async def spy_start(self: ProjectXBroker) -> Any:
        logging_in.set()
        assert await asyncio.to_thread(restoring.wait, 5), "the accounts were not being read"
        return await start(self)

    monkeypatch.setattr(service_module, "restore_all", slow_restore)
    monkeypatch.setattr(ProjectXBroker, "start", spy_start)
    await h.start()
    assert any(f"{logs.MACHINES_RESTORED} 1 account(s) restored" in m for m in h.logs)
    assert h.acct.positions[MNQ].size == 2


async def test_a_refused_login_is_raised_once_the_read_back_has_ended(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    await h.start(MAX_CONTRACTS)
    await h.stop()
    refusing, ended = threading.Event(), threading.Event()
    restore = service_module.restore_all

    def slow_restore(*args: Any, **kwargs: Any) -> Any:
        try:  # still reading when the login is refused
            assert refusing.wait(5), "the login was not refused while the accounts were read"
            return restore(*args, **kwargs)
        finally:
            ended.set()

    async def refused(self: ProjectXBroker) -> Any:
        refusing.set()
        raise FsmRiskError("the gateway refused the login")

    monkeypatch.setattr(service_module, "restore_all", slow_restore)
    monkeypatch.setattr(ProjectXBroker, "start", refused)
    with pytest.raises(FsmRiskError, match="refused the login"):
        await h.start()
    assert ended.is_set(), "the login's failure was raised while the accounts were being read"
