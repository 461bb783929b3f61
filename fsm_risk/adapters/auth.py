"""The admin credential: stored only as a salted scrypt hash; wrong secrets are refused,
logged and slowed down: after each wrong secret the next check waits a delay that doubles with
every failure within the window (up to a cap), whoever asks. There is no lockout: the right
secret is always accepted once its wait is over, so guessing costs time but cannot shut the
admin out (and nothing outlives the window, across restarts or not).

With a trust anchor in the settings (`fsm_risk.anchor`), only a secret matching the anchor is
the admin's: the database's secret, and whether it is trusted, are not looked at."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import threading
import time as _time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from loguru import logger

from fsm_risk.adapters.store import Store
from fsm_risk.anchor import Anchor
from fsm_risk.core.lost import UNTRUSTED_KEY
from fsm_risk.errors import AuthError

#: scrypt cost: ~50-100 ms per check on these machines (OWASP: N=2^15 or more, r=8, p=1)
SCRYPT_N, SCRYPT_R, SCRYPT_P, SCRYPT_LEN = 2**15, 8, 1, 32
MIN_SECRET_LENGTH = 12
#: characters that would break a log line or an audit entry in two (or hide part of it)
CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
MAX_ADMIN_NAME = 64
#: the byte-order mark a secret file saved with one gave its secret in earlier versions
BOM = "\ufeff"


def admin_name(value: Any) -> tuple[str, str | None]:
    """The admin's name as logged and audited: one short line of printable text (a newline
    would forge a log line). Returns (name, problem)."""
    if value is None or value == "":
        return "unknown", None
    if not isinstance(value, str):
        return "unknown", "'admin' must be a string"
    if CONTROL_CHARS.search(value) or len(value) > MAX_ADMIN_NAME:
        return "unknown", f"'admin' must be printable text of at most {MAX_ADMIN_NAME} characters"
    return value, None


#: why a database's secret is not set or taken over where the settings hold an anchor
ANCHORED = (
    "the admin secret is anchored in the settings ([admin] secret_anchor): only a secret "
    "matching it is the admin's, whatever the database holds; to change it, run 'fsm-risk "
    "admin anchor' on that settings file and restart the service"
)

#: the meta key a service or command with an anchor writes: this database's admin secret is
#: anchored in some settings, so one without the anchor is not to be trusted with it
ANCHORED_KEY = "admin_secret_anchored"
#: why a command without the anchor is refused on such a database
UNANCHORED = (
    "this database's admin secret is anchored in the settings of its service ([admin] "
    "secret_anchor): use those settings"
)

#: the longest wait before a check, however many wrong secrets came before
MAX_DELAY_SECONDS = 30.0


def _derive(secret: str, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    return hashlib.scrypt(
        secret.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=length, maxmem=128 * 1024 * 1024
    )


class AdminAuth:
    def __init__(
        self,
        store: Store,
        now: Callable[[], datetime],
        *,
        max_failures: int = 5,
        window: timedelta = timedelta(minutes=15),
        delay: float = 1.0,
        pause: Callable[[float], None] = _time.sleep,
        anchor: Anchor | None = None,
    ) -> None:
        self.store = store
        #: the admin secret's hash in the settings (None: the database's secret is trusted)
        self.anchor = anchor
        self.now = now
        self.max_failures = max_failures
        self.window = window
        self.delay = delay
        self.pause = pause
        self._lock = threading.Lock()  # one check at a time: parallel guesses queue up
        #: every wrong secret this process saw: counted whatever the database keeps of them
        #: (refused to record, or deleted by whoever can write its files)
        self._unrecorded: list[datetime] = []

    def wait_after(self, failures: int) -> float:
        """The wait before the next check after ``failures`` wrong secrets in the window."""
        if failures <= 0 or self.delay <= 0:
            return 0.0
        return min(self.delay * 2 ** (min(failures, self.max_failures) - 1), MAX_DELAY_SECONDS)

    def record_failure(self, who: str) -> None:
        """Count a refused attempt that never reached the hash (e.g. a secret of the wrong
        type) like a wrong secret."""
        self._unrecorded.append(self.now())
        self.store.record_auth_failure(who, self.now())
        logger.warning("malformed admin secret from {} (refused)", who)

    @property
    def configured(self) -> bool:
        return self.anchor is not None or self.store.admin() is not None

    @property
    def untrusted(self) -> str | None:
        """Why the secret held is not trusted (None: it is, or there is none): it was held
        when the service found an account's state lost (`fsm_risk.core.lost`), and so may
        have been set by whoever replaced the database. With an anchor: None (the anchor is
        trusted, whatever the database holds)."""
        if self.anchor is not None or self.store.admin() is None:
            return None
        since = self.store.meta(UNTRUSTED_KEY)
        if since is None:
            return None
        return (
            f"the admin secret of this database is not trusted: it was already set when the "
            f"service found an account's stored state lost ({since}), so it may not be the "
            "admin's"
        )

    def set_secret(
        self, new: str, current: str | None = None, who: str = "admin", take_over: bool = False
    ) -> None:
        """Store a new secret. Changing an existing one requires the current one, unless it
        is not trusted (`untrusted`) and this is a take-over, which makes the new one trusted.
        Refused with an anchor: the secret is the anchor's (`fsm-risk admin anchor`)."""
        if self.anchor is not None:
            raise AuthError(ANCHORED)
        if self.store.meta(ANCHORED_KEY) is not None:
            raise AuthError(UNANCHORED)
        replaced = take_over and self.untrusted is not None
        if self.configured and not replaced:
            self.check(current, who)
        if len(new) < MIN_SECRET_LENGTH:
            raise AuthError(f"the admin secret must be at least {MIN_SECRET_LENGTH} characters")
        salt = secrets.token_bytes(16)
        digest = _derive(new, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P, SCRYPT_LEN)
        params = json.dumps({"alg": "scrypt", "n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P})
        self.store.set_admin(salt.hex(), digest.hex(), params, self.now())
        if take_over:
            self.store.set_meta(UNTRUSTED_KEY, None)
        logger.info("admin secret set by {}{}", who, " (take-over)" if take_over else "")

    def check(self, secret: str | None, who: str) -> None:
        """Raise AuthError unless ``secret`` is the admin secret; wait first as long as the
        wrong secrets before it require."""
        with self._lock:
            self._check(secret, who)

    def _check(self, secret: str | None, who: str) -> None:
        if self.anchor is None and self.store.meta(ANCHORED_KEY) is not None:
            raise AuthError(UNANCHORED)
        row = self.store.admin() if self.anchor is None else None
        if row is None and self.anchor is None:
            raise AuthError("no admin secret is set: run 'fsm-risk admin set-secret' first")
        untrusted = self.untrusted
        if untrusted is not None:
            raise AuthError(f"{untrusted}: run 'fsm-risk admin set-secret --take-over'")
        since = self.now() - self.window
        kept = self.store.auth_failures_since(since)
        seen = self._unrecorded = [t for t in self._unrecorded if t >= since]
        recent = kept if len(kept) >= len(seen) else seen
        if recent:
            due = recent[-1] + timedelta(seconds=self.wait_after(len(recent)))
            wait = (due - self.now()).total_seconds()
            if wait > 0:
                self.pause(min(wait, MAX_DELAY_SECONDS))
        if not secret:
            raise AuthError(
                "an admin secret is required (FSM_RISK_ADMIN_SECRET, --secret-file, or the prompt)"
            )
        if not self._matches(secret, row) and not self._matches_with_bom(secret, row):
            self._unrecorded.append(self.now())
            try:
                self.store.record_auth_failure(who, self.now())
            except Exception as exc:
                from fsm_risk.adapters.store import storage_error

                if not storage_error(exc):
                    raise
            logger.warning("wrong admin secret from {} (refused)", who)
            self.pause(self.wait_after(len(recent) + 1))
            raise AuthError("wrong admin secret")

    def _matches_with_bom(self, secret: str, row: Any) -> bool:
        """``secret`` was stored (or anchored) as earlier versions read a secret file saved
        with a BOM: with an invisible U+FEFF in front, which a file's secret is now read
        without. Accepted, so that file still proves it; the database's hash is then made
        again from the secret without it (an anchor cannot be: its owner is told to make it
        again)."""
        if secret.startswith(BOM) or not self._matches(BOM + secret, row):
            return False
        if self.anchor is not None:
            logger.warning(
                "the admin secret matched the anchor only with a byte-order mark (U+FEFF) in "
                "front, as a secret file saved with one was read before: run 'fsm-risk admin "
                "anchor' again to make the anchor from the secret without it"
            )
            return True
        salt = secrets.token_bytes(16)
        digest = _derive(secret, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P, SCRYPT_LEN)
        params = json.dumps({"alg": "scrypt", "n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P})
        try:
            self.store.set_admin(salt.hex(), digest.hex(), params, self.now())
        except Exception as exc:
            from fsm_risk.adapters.store import storage_error

            if not storage_error(exc):
                raise
            return True
        logger.info(
            "admin secret stored again without the byte-order mark (U+FEFF) it was set with"
        )
        return True

    def _matches(self, secret: str, row: Any) -> bool:
        """``secret`` is the anchor's (with one), else the database's (``row``)."""
        if self.anchor is not None:
            return self.anchor.matches(secret)
        params = json.loads(row.params)
        expected = bytes.fromhex(row.hash)
        got = _derive(
            secret, bytes.fromhex(row.salt), params["n"], params["r"], params["p"], len(expected)
        )
        return hmac.compare_digest(got, expected)
