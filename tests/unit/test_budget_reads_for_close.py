"""Reads in the request budget that enforcement comes to wait on, and the login.

- An ordinary read of an account already waiting in the READ line when a close of that account
  times out: the read the close asks for is not started beside it (one read of an account at a
  time), so the waiting one moves up to the close's read priority (`RequestBudget.promote`,
  from `ProjectXBroker.for_enforcement`). Before, it stayed behind the read cap for as long as
  enforcement kept the window full, and the close was never re-sent.
- A read refused 401 gives its slot back before it waits for the login, and the login goes
  above the ordinary reads: reads refused 401 while holding their slots left the login none
  (reads capped at the limit less the reserve): the service stayed blind, the budget full."""

from __future__ import annotations

import asyncio
from typing import Any

from project_x_py.exceptions import ProjectXAuthenticationError

from fsm_risk.adapters.broker import (
    Credentials,
    Priority,
    ProjectXBroker,
    RequestBudget,
    sdk_config,
)
from fsm_risk.reconciler import Reconciler

URLS = ("http://127.0.0.1:9/api", "http://127.0.0.1:9/hubs/user", "http://127.0.0.1:9/hubs/market")


class Client:
    """The SDK client as the broker uses it; ``refused``: the token the gateway refuses."""

    def __init__(self, token: str = "good", refused: str = "") -> None:
        self.session_token, self.refused = token, refused
        self.headers: dict[str, str] = {}
        self.token_expiry = None
        self.logins = 0
        self.sent: list[int] = []

    async def _make_request(self, method: str, path: str, data: Any = None) -> Any:
        await asyncio.sleep(0.01)
        if self.session_token == self.refused:
            raise ProjectXAuthenticationError("401")
        self.sent.append(data["accountId"])
        return {"positions": [], "success": True}

    async def _execute_http_request(
        self, method: str, path: str, data: Any = None, retry_count: int = 0
    ) -> Any:  # a read: sent once (the broker keeps its own retries in the budget)
        return await self._make_request(method, path, data)

    async def authenticate(self) -> None:
        self.logins += 1
        self.session_token = "new"

    def get_session_token(self) -> str:
        return self.session_token


def broker(budget: RequestBudget, client: Client) -> ProjectXBroker:
    b = ProjectXBroker(
        sdk_config(*URLS), Credentials("u", "key-0000"), lambda _: None, budget=budget
    )
    b.client = client  # type: ignore[assignment]
    return b


async def test_a_read_waiting_as_an_ordinary_one_moves_up_when_a_close_comes_to_wait_on_it() -> (
    None
):
    clock = [0.0]
    budget = RequestBudget(limit=5, window=60.0, reserve=3, monotonic=lambda: clock[0])
    client = Client()
    b = broker(budget, client)
    for _ in range(2):  # cancels this window: ordinary reads (at most 2) have no room left
        async with budget.slot(Priority.CANCEL):  # (closes are not counted against them)
            pass

    async def run(account_id: int, periodic: bool) -> None:
        await b._post("/Position/searchOpen", {"accountId": account_id})

    rec = Reconciler(run, lambda a: 0)
    rec.start()
    try:
        rec.request(7, periodic=True)  # the periodic read: waits behind the cap
        for _ in range(100):  # turns of the loop until a worker has taken it (no wall time)
            if budget.queued:
                break
            await asyncio.sleep(0)
        assert budget.queued == {Priority.READ: 1} and client.sent == []
        with b.for_enforcement(7):  # account 7's close timed out: the read it waits on
            await asyncio.wait_for(rec.request(7, urgent=True), 2.0)
        assert client.sent == [7, 7]  # the ordinary read moved up, then the one asked for
    finally:
        await rec.stop()


async def test_reads_refused_401_give_their_slots_back_for_the_login() -> None:
    budget = RequestBudget(limit=4, window=0.5, reserve=1)  # ordinary reads: at most 3
    client = Client(token="old", refused="old")
    b = broker(budget, client)
    reads = [b._post("/Position/searchOpen", {"accountId": a}) for a in (1, 2, 3)]
    try:
        await asyncio.wait_for(asyncio.gather(*reads), 5.0)
    finally:
        await b.session.stop()
    assert client.logins == 1 and sorted(client.sent) == [1, 2, 3]
    assert budget.in_flight == 0


async def test_the_read_after_a_refused_cancel_stays_ordinary_while_a_close_reads_the_account() -> (
    None
):
    """The chaos fuzzer at 200 a minute: while a close's read of an account was under way, the
    reads checking the account's refused cancels (each a race lost to a fill) went at the
    close's read priority too (48 in one run), and with the cancels they filled the first
    seconds of the window: closes then waited up to 49 s. Those reads are for cancels: they
    stay ordinary reads, and are not moved up with the account's urgent ones."""
    clock = [0.0]
    budget = RequestBudget(limit=5, window=60.0, reserve=3, monotonic=lambda: clock[0])
    client = Client()
    b = broker(budget, client)
    asked: list[Priority] = []
    acquire = budget.acquire

    async def spy(priority: Priority = Priority.READ, *rest: Any, **kw: Any) -> None:
        asked.append(priority)
        await acquire(priority, *rest, **kw)

    budget.acquire = spy  # type: ignore[method-assign]
    with b.for_enforcement(7):  # a close of account 7 waits on a read of it
        await b.order(7, 123)
    assert asked == [Priority.READ]
    for _ in range(2):  # cancels this window: ordinary reads (at most 2) have no room left
        async with budget.slot(Priority.CANCEL):  # (closes are not counted against them)
            pass
    waiting = asyncio.ensure_future(b.order(7, 124))
    for _ in range(100):
        if budget.queued:
            break
        await asyncio.sleep(0)
    assert budget.queued == {Priority.READ: 1}
    with b.for_enforcement(7):  # the close's read comes: the order's read is not moved up
        assert budget.queued == {Priority.READ: 1}
    waiting.cancel()
    await asyncio.gather(waiting, return_exceptions=True)
