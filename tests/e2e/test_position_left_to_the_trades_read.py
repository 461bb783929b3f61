"""Found by a crash hunt: an account LockedDaily by a -603 day, `serve` down (stopped or
killed) across the daily reset, the trader buys 2 MNQ five minutes into the new day with no
loss. The lock, past its end, was kept for the start-up read of the trades (a P&L rule judges
again there), and its sweep closed the new day's legal position as POSITION_WHILE_LOCKED before
that read released the lock. A lock kept only for the read now leaves a position to the read:
closed there if the rule locks again (RULE-004's blown account buying 10 NQ), kept if not, and
closed without the read once it is a minute late.

Real SDK, paper gateway, the harness's shared manual clock."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest

from fsm_risk import runtime
from fsm_risk.adapters.broker import Credentials
from fsm_risk.core.awaiting import WAIT
from fsm_risk.core.states import State
from tests.e2e.service_harness import ACCOUNT, MNQ, Harness, lock_by_daily_loss
from tests.e2e.test_restart_safety import crash

DAILY_LOSS = "[rule.daily_loss_limit]\nlimit = 500\n"
BLOWN = "[rule.trailing_drawdown]\ndrawdown = 500\nstarting_balance = 50000\n"
TRADES = "/api/Trade/search"
RELEASE_D = (None, "LockedDaily", "Trading", "release", "RULE-003")
RELEASE_W = (None, "LockedWeekly", "Trading", "release", "RULE-004")


def restart_unread(h: Harness) -> None:
    """Start the service again with the account's trades not readable (the search fails)."""
    h.gateway.fail_rest(TRADES, 503, 10**9)
    user, key = h.gateway.credentials()
    urls = (h.gateway.api_url, h.gateway.user_hub_url, h.gateway.market_hub_url)
    svc = runtime.make_service(h.settings, Credentials(user, key), urls, clock=h.clock)
    h.service, h.task = svc, asyncio.create_task(svc.run())


def while_locked(h: Harness) -> list[tuple[str | None, str, str, str, str | None]]:
    return [r for r in h.audit() if r[3] == "breach" and r[0] is not None and r[1] == "Trading"]


@pytest.mark.parametrize("how", ["stop", "crash"])
async def test_a_position_opened_after_a_missed_daily_reset_is_not_closed_at_the_start(
    h: Harness, how: str
) -> None:
    await h.start(DAILY_LOSS)
    await lock_by_daily_loss(h)
    closed_before = len(h.closes("MNQ"))  # the loss's own flatten
    breaches_before = len(while_locked(h))
    reset = h.svc.engine.calendar.next_daily_reset(h.clock.now())
    await (h.stop() if how == "stop" else crash(h))
    h.clock.set(reset + timedelta(minutes=5))  # the new trading day: the lock has ended
    h.trade("MNQ", "buy", 2)  # a legal entry of the new day, no loss
    await h.start()
    await h.until(lambda: h.acct.missed is None and not h.acct.balance_due, "its trades read")
    await h.until(lambda: h.acct.state is State.Trading, "the lock ended at the read")
    await asyncio.sleep(1.0)  # (a close would be sent at once)
    new = [(c.size, c.source) for c in h.closes("MNQ")[closed_before:]]
    seen = (new, h.position("MNQ"), h.acct.state, while_locked(h)[breaches_before:])
    assert seen == ([], 2, State.Trading, []), h.audit()
    assert h.audit().count(RELEASE_D) == 1


async def test_a_blown_account_buying_10_nq_after_the_restart_is_closed_at_its_read(
    h: Harness,
) -> None:
    await h.start(BLOWN)
    h.trade("MNQ", "buy", 2)
    await h.until(lambda: MNQ in h.acct.positions, "the position reached the service")
    h.gateway.move_price("MNQ", -600)
    await h.until(lambda: h.acct.state is State.LockedWeekly, "blown: locked for the week")
    reset = h.acct.holds["RULE-004"].until
    assert reset is not None
    await h.stop()
    h.clock.set(reset.replace(minute=1))
    restart_unread(h)
    await h.until(lambda: ACCOUNT in h.svc.engine.accounts, "the account restored")
    nq = h.gateway.contract("NQ").id
    h.trade("NQ", "buy", 10)  # the blown account buys 10 NQ at once
    await h.until(lambda: nq in h.acct.positions, "the position reached the service")
    await asyncio.sleep(1.0)
    # left to the read: not closed while the trades cannot be read
    assert (h.position("NQ"), h.closes("NQ"), h.acct.missed is not None) == (10, [], True)
    assert h.acct.state is State.LockedWeekly
    h.gateway.fail_rest(TRADES, 503, 0)  # the trades can be read again
    await h.until(lambda: h.acct.missed is None, "its trades read", 30)
    read = time.monotonic()
    # judged in the read's own step: the close is decided there (sent once committed)
    assert h.acct.state is State.Flattening, h.audit()[-3:]
    await h.gw_until(lambda: h.position("NQ") == 0, "closed at the read", 30)
    assert time.monotonic() - read < 5, "closed seconds after its trades were read"
    await h.until(lambda: h.acct.state is State.LockedWeekly, "locked again for a week")
    audit = h.audit()
    assert audit.count(RELEASE_W) == 1
    assert audit[audit.index(RELEASE_W) + 1][3:] == ("breach", "RULE-004"), audit
    assert [c.size for c in h.closes("NQ")] == [10]
    hold = h.acct.holds["RULE-004"]
    assert hold.until is not None and hold.until > reset


async def test_a_read_that_does_not_come_closes_the_position_after_the_wait(h: Harness) -> None:
    await h.start(DAILY_LOSS)
    await lock_by_daily_loss(h)
    closed_before = len(h.closes("MNQ"))
    reset = h.svc.engine.calendar.next_daily_reset(h.clock.now())
    await h.stop()
    h.clock.set(reset + timedelta(minutes=5))
    h.trade("MNQ", "buy", 2)
    restart_unread(h)
    await h.until(lambda: ACCOUNT in h.svc.engine.accounts, "the account restored")
    await h.until(lambda: MNQ in h.acct.positions, "the position reached the service")
    await asyncio.sleep(0.5)
    await h.advance(seconds=WAIT.total_seconds() - 5)
    await asyncio.sleep(0.5)
    kept = (h.position("MNQ"), len(h.closes("MNQ")) - closed_before, h.acct.missed is not None)
    assert kept == (2, 0, True)
    await h.advance(seconds=6)  # a minute without the read: closed as under any lock
    await h.gw_until(lambda: h.position("MNQ") == 0, "closed without the read")
    assert [c.size for c in h.closes("MNQ")[closed_before:]] == [2]
    assert h.acct.state is State.LockedDaily


async def test_a_new_days_loss_made_while_down_is_closed_at_the_read(h: Harness) -> None:
    await h.start(DAILY_LOSS)
    await lock_by_daily_loss(h)
    closed_before = len(h.closes("MNQ"))
    reset = h.svc.engine.calendar.next_daily_reset(h.clock.now())
    await crash(h)
    h.clock.set(reset + timedelta(minutes=5))
    h.trade("MNQ", "buy", 2)
    h.gateway.move_price("MNQ", -600)  # the new day loses 600 while the service is dead
    await h.start()
    await h.gw_until(lambda: h.position("MNQ") == 0, "closed at the read")
    await h.until(lambda: h.acct.state is State.LockedDaily, "locked again for the new day")
    assert [c.size for c in h.closes("MNQ")[closed_before:]] == [2]
    audit = h.audit()
    assert audit.count(RELEASE_D) == 1
    assert audit[audit.index(RELEASE_D) + 1][3:] == ("breach", "RULE-003"), audit
    hold = h.acct.holds["RULE-003"]
    assert hold.until is not None and hold.until > reset
