"""`Session`: a token refused by the gateway makes one new login, whoever was refused, backing
off while logins fail; the service says it is blind once per outage and when it sees again."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from loguru import logger

from fsm_risk.adapters.session import Session


@dataclass
class Gateway:
    """A fake gateway's login: the tokens it issues, the logins it refuses, time it takes."""

    refuse: int = 0  # the next logins refused
    token: str = "T0"
    logins: int = 0
    handed: list[str | None] = field(default_factory=list)
    told: list[bool] = field(default_factory=list)
    restored: int = 0
    now: float = 0.0
    slept: list[float] = field(default_factory=list)
    login_started: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event | None = None  # set: a login waits for it

    async def login(self) -> str:
        self.logins += 1
        self.login_started.set()
        if self.release is not None:
            await self.release.wait()
        if self.refuse:
            self.refuse -= 1
            raise RuntimeError("the gateway refused the login")
        self.token = f"T{self.logins}"
        return self.token

    async def hand_over(self, token: str | None) -> None:
        self.handed.append(token)

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)

    def session(self) -> Session:
        def restored() -> None:
            self.restored += 1

        return Session(
            self.login,
            self.hand_over,
            lambda: self.token,
            restored=restored,
            changed=self.told.append,
            monotonic=lambda: self.now,
            sleep=self.sleep,
        )


@pytest.fixture
def lines() -> Iterator[list[str]]:
    found: list[str] = []
    sink = logger.add(lambda m: found.append(str(m)), level="DEBUG")
    yield found
    logger.remove(sink)


async def test_many_callers_refused_at_once_make_one_login_and_all_retry_with_its_token(
    lines: list[str],
) -> None:
    gw = Gateway()
    gw.release = asyncio.Event()
    s = gw.session()
    waiting = [asyncio.ensure_future(s.renewed("T0", f"read {i}")) for i in range(10)]
    await gw.login_started.wait()
    s.rejected("T0", "the user hub refused to negotiate")  # a hub, meanwhile
    s.rejected("T0", "an enforcement request answered 401")
    assert not s.authenticated
    gw.release.set()
    assert await asyncio.gather(*waiting) == [True] * 10
    await s.wait()
    assert gw.logins == 1
    assert gw.handed == ["T1"]  # the hubs get the new token
    assert s.authenticated and gw.told == [False, True] and gw.restored == 1
    assert sum("refused the session token" in m for m in lines) == 1
    assert sum("CRITICAL" in m for m in lines) == 1
    assert sum("logged in again: the gateway accepts" in m for m in lines) == 1


async def test_a_refusal_of_a_token_already_replaced_starts_no_login() -> None:
    gw = Gateway(token="T7")
    s = gw.session()
    assert await s.renewed("T3", "a read sent before the last login") is True
    s.rejected("T3", "a hub still on the old token")
    assert gw.logins == 0 and s.authenticated and not s.busy


async def test_failed_logins_back_off_doubling_to_a_minute_and_the_outage_is_told_once(
    lines: list[str],
) -> None:
    gw = Gateway(refuse=9)
    s = gw.session()
    assert await s.renewed("T0", "read") is False  # the first login failed: the read fails
    assert not s.authenticated
    assert await s.renewed("T0", "read again") is False  # joins the next try, starts none
    await s.wait()
    assert gw.logins == 10
    assert gw.slept == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    assert s.authenticated and s.failures == 9
    assert gw.told == [False, True] and gw.restored == 1
    assert sum("CRITICAL" in m for m in lines) == 1
    assert sum("logging in again failed" in m for m in lines) == 9


async def test_a_new_token_refused_at_once_is_not_a_login_loop() -> None:
    gw = Gateway()
    s = gw.session()
    for _ in range(4):
        s.rejected(gw.token, "refused again right after the login")
        await s.wait()
    assert gw.logins == 4
    assert gw.slept == [1, 2, 4]  # logins asked one after another wait, as failed ones do
    gw.now += 60  # a quiet minute: the next refusal is answered at once
    s.rejected(gw.token, "refused a while later")
    await s.wait()
    assert gw.slept == [1, 2, 4] and gw.logins == 5


async def test_the_new_token_refused_while_it_is_handed_over_makes_another_login() -> None:
    gw = Gateway()
    s = gw.session()
    refused_once: list[str] = []

    async def hand_over(token: str | None) -> None:
        gw.handed.append(token)
        if not refused_once:
            refused_once.append("x")
            assert token is not None
            s.rejected(token, "the hub refused the new token too")

    s._hand_over = hand_over
    s.rejected("T0", "read")
    await s.wait()
    assert gw.logins == 2 and gw.handed == ["T1", "T2"]
    assert s.authenticated and gw.told == [False, True]


async def test_a_renewal_ahead_of_expiry_says_nothing_and_a_failed_one_is_not_an_outage(
    lines: list[str],
) -> None:
    gw = Gateway(refuse=1)
    s = gw.session()
    s.renew()
    s.renew()  # the watchdog asks every second while it is under way: joined
    await s.wait()
    assert gw.logins == 2 and gw.slept == [1] and gw.handed == ["T2"]
    assert s.authenticated and gw.told == [] and gw.restored == 0
    assert not any("CRITICAL" in m for m in lines)


async def test_stop_ends_a_login_waiting_its_turn() -> None:
    gw = Gateway(refuse=100)
    s = gw.session()
    s.rejected("T0", "read")
    await asyncio.sleep(0)
    await s.stop()
    assert not s.busy


async def test_a_refused_read_does_not_wait_long_for_the_next_login() -> None:
    gw = Gateway(refuse=100)
    s = gw.session()
    s.patience = 0.5
    forever = asyncio.Event()

    async def sleep(seconds: float) -> None:  # the backoff's wait never ends here
        gw.slept.append(seconds)
        await forever.wait()

    s._sleep = sleep
    assert await s.renewed("T0", "read") is False  # the first login, refused
    # the next login is due in 1 s, beyond the read's patience: it fails at once
    assert await asyncio.wait_for(s.renewed("T0", "read"), 0.1) is False
    assert gw.logins == 1 and gw.slept == [1] and s.busy and not s.authenticated
    await s.stop()
