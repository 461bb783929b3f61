"""The login kept valid: when the gateway refuses the session token, one new login at once.

A gateway may refuse a token long before it expires (the same API key logged in elsewhere,
a token revoked). The SDK logs in again on a 401 only when the token is within minutes of its
expiry; otherwise it retries with the same token and raises, and its hub readers end with
``AuthorizationError``: the service would be blind until the scheduled refresh ahead of
expiry, almost a day with a 24 h token.

So whoever is refused says so (`rejected`: a REST read answered 401, a hub refusing to
negotiate, an enforcement request answered 401), and `Session` logs in again:

- once, however many are refused meanwhile: they join the login under way (`renewed` waits
  for its outcome); a refusal of a token already replaced starts nothing;
- a login that fails is tried again after ``first`` seconds, doubling up to ``longest``; a
  login asked for right after the last one waits that delay too (a gateway that refuses every
  new token at once does not make the service log in in a loop). After ``quiet`` seconds
  without a login, the next one goes at once again. A refused read waits for the next login
  only when it is due within ``patience`` seconds (else it fails at once, as it would have);
- once logged in, the new token is handed over (`hand_over`: the hubs reopen with it; REST and
  the enforcement connections read it from the client), then `restored` is called (the
  accounts are read: what happened while the service was blind is enforced).

From the first refusal until the new token is handed over, `authenticated` is False: the
service is blind and says so. One CRITICAL alert per outage, one all-clear when it ends.
A scheduled renewal ahead of expiry (`renew`) goes through the same single login.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import datetime

from loguru import logger

from fsm_risk import logs
from fsm_risk.adapters.clock import SystemClock

#: the delay before a login is tried again after a failed one (it doubles up to `LONGEST`)
FIRST = 1.0
LONGEST = 60.0
#: after this long without a login, the next one goes at once
QUIET = 60.0
#: a refused read waits for the next login only when it is due within this long
PATIENCE = 10.0


class Session:
    def __init__(
        self,
        login: Callable[[], Awaitable[str | None]],
        hand_over: Callable[[str | None], Awaitable[None]],
        token: Callable[[], str | None],
        *,
        restored: Callable[[], None] = lambda: None,
        changed: Callable[[bool], None] = lambda authenticated: None,
        now: Callable[[], datetime] | None = None,
        first: float = FIRST,
        longest: float = LONGEST,
        quiet: float = QUIET,
        patience: float = PATIENCE,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._login, self._hand_over, self._token = login, hand_over, token
        self._restored, self._changed = restored, changed
        self._now = now or SystemClock().now
        self.first, self.longest, self.quiet, self.patience = first, longest, quiet, patience
        #: the new token is being handed to the hubs (they are reopening with it)
        self.handing_over = False
        self._monotonic, self._sleep = monotonic, sleep
        #: False from the gateway's first refusal until a new token is handed over
        self.authenticated = True
        #: when the current outage began, wall time (None: authenticated)
        self.since: datetime | None = None
        self.logins = 0  # logins made (successful or not)
        self.failures = 0  # logins that failed
        self._delay = first
        self._next_at = float("-inf")  # the earliest a login may go (monotonic)
        self._last_login = float("-inf")
        self._task: asyncio.Task[None] | None = None
        #: the outcome of the next login (True: a new token is in place), for `renewed`
        self._outcome: asyncio.Future[bool] | None = None
        #: the token refused last, and whether the login under way is older than the refusal
        self._refused: str | None = None
        self._stale_login = False

    @property
    def busy(self) -> bool:
        """A login (or the hand-over of its token) is under way or waiting its turn."""
        return self._task is not None and not self._task.done()

    def rejected(self, token: str | None, why: str) -> None:
        """The gateway refused ``token`` (what the refused request carried): unless a newer
        one is in place, the service is blind until it has logged in again, which starts now
        (or joins the login under way)."""
        if token != self._token():
            return  # refused with an old token: the current one was not tried
        self._refused = token
        if self.authenticated:
            self.authenticated = False
            self.since = self._now()
            self._changed(False)
            logger.critical(
                "{} the gateway refused the session token ({}): NOT ENFORCING until the "
                "service has logged in again; logging in again now",
                logs.ALERT,
                why,
            )
        self._start(stale=True)

    def renew(self) -> None:
        """Log in again ahead of the token's expiry (nothing refused yet); joins a login under
        way, and starts nothing new while one is."""
        self._start(stale=False)

    async def renewed(self, token: str | None, why: str) -> bool:
        """The gateway refused ``token``: True once a newer token is in place (at once when it
        already is), False when the next login failed or is not due within `patience` (it is
        tried again meanwhile, backing off: a read does not wait a minute for it)."""
        if token != self._token():
            return True
        self.rejected(token, why)
        if self._next_at - self._monotonic() > self.patience:
            return False
        assert self._outcome is not None
        return await asyncio.shield(self._outcome)

    async def wait(self) -> None:
        """Until the login under way (and the hand-over of its token) is done."""
        if self._task is not None:
            await asyncio.shield(self._task)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if self._outcome is not None and not self._outcome.done():
            self._outcome.cancel()

    def _start(self, *, stale: bool) -> None:
        if self._outcome is None or self._outcome.done():
            self._outcome = asyncio.get_running_loop().create_future()
        if self.busy:
            # a refusal after the login under way was sent: its token may be the refused one
            self._stale_login = self._stale_login or stale
            return
        self._stale_login = False
        if self._monotonic() - self._last_login >= self.quiet:
            self._delay = self.first  # the first login in a while goes at once
        self._task = asyncio.ensure_future(self._run())
        self._task.set_name("login-again")

    async def _run(self) -> None:
        while True:
            wait = self._next_at - self._monotonic()
            if wait > 0:
                await self._sleep(wait)
            self._last_login = self._monotonic()
            self._next_at = self._last_login + self._delay
            self._delay = min(self._delay * 2, self.longest)
            self._stale_login = False
            self.logins += 1
            try:
                token = await self._login()
            except Exception as exc:  # refused, unreachable: tried again, backing off
                self.failures += 1
                logger.error(
                    "{} logging in again failed ({}); next try in {:.0f} s",
                    logs.ALERT,
                    exc,
                    max(0.0, self._next_at - self._monotonic()),
                )
                self._settle(False)
                continue
            self._settle(True)
            self.handing_over = True
            try:
                await self._hand_over(token)
            except Exception as exc:  # the hub watchdog starts them again with the token
                logger.error("{} the new token was not handed over: {!r}", logs.ALERT, exc)
            finally:
                self.handing_over = False
            if self._stale_login and self._refused == self._token():
                continue  # the new token was refused meanwhile: log in again
            if not self.authenticated:
                blind = (self._now() - self.since).total_seconds() if self.since else 0.0
                self.authenticated, self.since = True, None
                self._changed(True)
                logger.warning(
                    "{} logged in again: the gateway accepts the new token (the service was "
                    "blind for {:.1f} s); every account is read again",
                    logs.ALERT,
                    blind,
                )
                self._restored()
            return

    def _settle(self, ok: bool) -> None:
        outcome, self._outcome = self._outcome, None
        if outcome is not None and not outcome.done():
            outcome.set_result(ok)
        if self._outcome is None:
            self._outcome = asyncio.get_running_loop().create_future()
