"""The admin credential: stored only as a salted scrypt hash; wrong secrets are refused,
logged and rate-limited (a pause after each, and a refusal of every attempt once too many
failed within the window)."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time as _time
from collections.abc import Callable
from datetime import datetime, timedelta

from loguru import logger

from fsm_risk.adapters.store import Store
from fsm_risk.errors import AuthError

#: scrypt cost: ~50-100 ms per check on these machines (OWASP: N=2^15 or more, r=8, p=1)
SCRYPT_N, SCRYPT_R, SCRYPT_P, SCRYPT_LEN = 2**15, 8, 1, 32
MIN_SECRET_LENGTH = 12


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
    ) -> None:
        self.store = store
        self.now = now
        self.max_failures = max_failures
        self.window = window
        self.delay = delay
        self.pause = pause

    @property
    def configured(self) -> bool:
        return self.store.admin() is not None

    def set_secret(self, new: str, current: str | None = None, who: str = "admin") -> None:
        """Store a new secret. Changing an existing one requires the current one."""
        if self.configured:
            self.check(current, who)
        if len(new) < MIN_SECRET_LENGTH:
            raise AuthError(f"the admin secret must be at least {MIN_SECRET_LENGTH} characters")
        salt = secrets.token_bytes(16)
        digest = _derive(new, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P, SCRYPT_LEN)
        params = json.dumps({"alg": "scrypt", "n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P})
        self.store.set_admin(salt.hex(), digest.hex(), params, self.now())
        logger.info("admin secret set by {}", who)

    def check(self, secret: str | None, who: str) -> None:
        """Raise AuthError unless ``secret`` is the admin secret (and not rate-limited)."""
        row = self.store.admin()
        if row is None:
            raise AuthError("no admin secret is set: run 'fsm-risk admin set-secret' first")
        now = self.now()
        recent = self.store.auth_failures_since(now - self.window)
        if len(recent) >= self.max_failures:
            retry = recent[-self.max_failures] + self.window
            logger.warning("admin attempt by {} refused: too many failures", who)
            raise AuthError(
                f"too many wrong admin secrets: refused until {retry:%Y-%m-%d %H:%M:%S} UTC"
            )
        if not secret:
            raise AuthError(
                "an admin secret is required (FSM_RISK_ADMIN_SECRET, --secret-file, or the prompt)"
            )
        params = json.loads(row.params)
        expected = bytes.fromhex(row.hash)
        got = _derive(
            secret, bytes.fromhex(row.salt), params["n"], params["r"], params["p"], len(expected)
        )
        if not hmac.compare_digest(got, expected):
            self.store.record_auth_failure(who, now)
            logger.warning("wrong admin secret from {} (refused)", who)
            self.pause(self.delay)
            raise AuthError("wrong admin secret")
