"""The admin secret's trust anchor: its salted scrypt hash kept in the settings file
(``[admin] secret_anchor``), outside the database.

Everything in the database can be written by whoever owns its files: a trader who does can
replace the file, set his own admin secret on it and clear any note saying it is not to be
trusted; nothing inside it tells the admin's secret from one he planted. A settings file he
cannot write (the root-owned one `fsm-risk service install` writes) can: when it holds an
anchor, only a secret matching the anchor is the admin's, whatever the database holds. With
no anchor, the database's secret is the admin's, as it always was.

The anchor is written by `fsm-risk admin anchor` and never printed, logged or shown by
`fsm-risk check` (a hash lets whoever reads it guess the secret offline, scrypt slows that).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

#: scrypt cost: the database's own (`fsm_risk.adapters.auth`), ~50-100 ms per check
N, R, P, LENGTH = 2**15, 8, 1, 32
#: the most the settings may ask of a check (a larger N or r would take seconds and memory)
MAX_N, MAX_R, MAX_P = 2**17, 8, 4
ALGORITHM = "scrypt"
FORM = "scrypt$N$r$p$SALT$HASH (written by 'fsm-risk admin anchor')"


def derive(secret: str, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    return hashlib.scrypt(
        secret.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=length, maxmem=256 * 1024 * 1024
    )


@dataclass(frozen=True)
class Anchor:
    salt: bytes
    digest: bytes
    n: int = N
    r: int = R
    p: int = P

    @classmethod
    def of(cls, secret: str) -> Anchor:
        """A new anchor for ``secret`` (a fresh salt)."""
        salt = secrets.token_bytes(16)
        return cls(salt, derive(secret, salt, N, R, P, LENGTH))

    @property
    def text(self) -> str:
        """As the settings hold it."""
        return f"{ALGORITHM}${self.n}${self.r}${self.p}${self.salt.hex()}${self.digest.hex()}"

    def matches(self, secret: str) -> bool:
        got = derive(secret, self.salt, self.n, self.r, self.p, len(self.digest))
        return hmac.compare_digest(got, self.digest)

    def __repr__(self) -> str:  # (never the hash: settings objects may be shown)
        return "Anchor(hidden)"


def parse(text: str) -> Anchor | None:
    """``[admin] secret_anchor`` (empty: none). A bad value is refused without repeating it."""
    if not text:
        return None
    parts = text.split("$")
    if len(parts) != 6 or parts[0] != ALGORITHM:
        raise ValueError(f"must be {FORM}")
    try:
        n, r, p = (int(v) for v in parts[1:4])
        salt, digest = bytes.fromhex(parts[4]), bytes.fromhex(parts[5])
    except ValueError:
        raise ValueError(f"must be {FORM}") from None
    if n < 2**14 or n > MAX_N or n & (n - 1) or not 1 <= r <= MAX_R or not 1 <= p <= MAX_P:
        raise ValueError(f"its scrypt cost is out of range (must be {FORM})")
    if len(salt) < 16 or len(digest) < 32:
        raise ValueError(f"its salt or hash is too short (must be {FORM})")
    return Anchor(salt, digest, n, r, p)
