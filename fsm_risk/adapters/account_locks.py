"""One service per gateway account on this machine, whatever database each one uses.

The database's own lock keeps one service per SQLite file (and the PostgreSQL leases one per
account on one server). Two services given two databases for the same accounts (a second
settings file, a copy of the first with another ``database``) would both enforce: each sends
its own "reduce by 2" for one breach, and the account goes from 5 contracts to 1, or a
flatten's close is sent twice and reverses the position. So a service also holds, for each
account it monitors, an exclusive lock on a file named after the gateway and the account, in
a directory of the user's own (``/tmp/fsm-risk-<uid>``: the same for a login shell, cron,
``su`` and ``sudo -u``). The lock ends with the process (the kernel drops it on a crash or a
kill), so a restart is never refused by a dead holder. Each file says who holds it (pid,
database, since), for the refusal.

Services of two different users of the machine are not seen by each other (each has its own
directory: a shared one would let any user block another's service by creating its files),
nor is a service of the installed systemd unit (its own system user, its own ``/tmp``) by a
`serve` started by hand. The gateway is named by its URL's scheme, host, port and path,
however they are written (`gateway_key`); a host name and its address are still two names.
Where no lock can be taken, the service enforces all the same, with a warning.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import json
import os
import re
import socket
import sys
import tempfile
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from loguru import logger

from fsm_risk import logs
from fsm_risk.errors import AlreadyGuarded

if sys.platform == "win32":
    import msvcrt

    def try_lock(fd: int) -> bool:
        """Take the exclusive lock on the file's first byte without waiting."""
        os.lseek(fd, 0, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def try_lock(fd: int) -> bool:
        """Take the exclusive lock on the file without waiting."""
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


def lock_dir() -> Path:
    """This user's directory of account locks, the same whatever the environment says (a
    login shell sets ``XDG_RUNTIME_DIR``, cron, ``su`` and ``sudo -u`` do not; ``TMPDIR``
    differs too): named by the user id in ``/tmp`` (on Windows, in the user's temporary
    directory)."""
    if sys.platform == "win32":
        return Path(tempfile.gettempdir()) / "fsm-risk-accounts"
    return Path("/tmp") / f"fsm-risk-{os.getuid()}"


#: the ports a scheme has when its URL names none
_DEFAULT_PORTS = {"http": 80, "https": 443}


def gateway_key(api_url: str) -> str:
    """The gateway an account belongs to, as one name whatever way its URL was written:
    ``HTTPS://Api.Example.com:443//api/``, ``https://api.example.com./api`` and
    ``https://api.example.com/api`` are one gateway, as are ``localhost``, ``127.0.0.1`` (any
    loopback address, however written) and ``0.0.0.0`` on one port (this machine: a second
    service spelling it the other way reduced one breach twice); any user name or password in
    the URL is left out."""
    split = urlsplit(api_url.strip())
    scheme = split.scheme.lower()
    host = (split.hostname or "").lower().rstrip(".")
    if _this_machine(host):
        host = "loopback"
    port = split.port or _DEFAULT_PORTS.get(scheme)
    path = re.sub("/{2,}", "/", split.path).rstrip("/")
    return f"{scheme}://{host}:{port}{path}"


def legacy_key(api_url: str) -> str:
    """The name fsm-risk gave the gateway before `gateway_key` (the URL's scheme, host, port
    as written and path): still locked too, so that a service of an earlier version, still
    running beside this one, sees it and is seen (both enforced on one account, 5 to 1)."""
    split = urlsplit(api_url.strip())
    host = (split.hostname or "").lower()
    port = f":{split.port}" if split.port else ""
    return f"{split.scheme.lower()}://{host}{port}{split.path.rstrip('/')}"


def _this_machine(host: str) -> bool:
    """Whether ``host`` names this machine: ``localhost``, a loopback address however written
    (``127.1``, ``2130706433``, ``[::ffff:127.0.0.1]``) or an unspecified one (``0.0.0.0``,
    ``[::]``, which a connection takes to this machine)."""
    if host == "localhost":
        return True
    try:
        addr: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(host)
    except ValueError:
        try:  # the short and numeric forms of IPv4 (as the resolver reads them)
            addr = ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return addr.is_loopback or addr.is_unspecified


class AccountLocks:
    """The locks of one service: one file per (gateway, account), held until `release`."""

    def __init__(self, api_url: str, database: str, directory: Path | None = None) -> None:
        self.gateway = gateway_key(api_url)
        #: every name the gateway's lock files go by (this version's, and the earlier one's)
        self.keys = list(dict.fromkeys([self.gateway, legacy_key(api_url)]))
        split = urlsplit(api_url.strip())  # (as written, for messages: no user or password)
        where = split.netloc.rpartition("@")[2].lower()
        self.shown = f"{split.scheme.lower()}://{where}{split.path}"
        self.database = database
        self.directory = directory or lock_dir()
        self._held: dict[int, list[int]] = {}  # account id -> the locked files' descriptors

    def path(self, account_id: int, key: str | None = None) -> Path:
        digest = hashlib.sha256((key or self.gateway).encode()).hexdigest()[:16]
        return self.directory / f"{digest}-{account_id}.lock"

    def take(self, account_ids: Iterable[int]) -> None:
        """Lock every account, or none: refused (`AlreadyGuarded`), naming the first account
        another service holds and who holds it. Where no lock can be taken at all (the
        directory is another user's, a read-only or full disk), the service is not refused
        for it: it enforces, and a warning says that a second service would not be seen."""
        wanted = [a for a in dict.fromkeys(account_ids) if a not in self._held]
        try:
            self._private_directory()
            for account_id in wanted:
                self._take(account_id)
        except _Unusable as exc:
            for account_id in wanted:
                self._drop(account_id)
            logger.warning(
                "{} {}: a second fsm-risk service for these accounts would not be seen",
                logs.ALERT,
                exc,
            )
        except BaseException:
            for account_id in wanted:
                self._drop(account_id)
            raise

    def release(self) -> None:
        for account_id in list(self._held):
            self._drop(account_id)

    def give_back(self, account_id: int) -> None:
        """Release one account's lock (none held: nothing)."""
        self._drop(account_id)

    @property
    def held(self) -> list[int]:
        return sorted(self._held)

    def _take(self, account_id: int) -> None:
        held = self._held.setdefault(account_id, [])  # (dropped by the caller on a failure)
        for key in self.keys:
            path = self.path(account_id, key)
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            except OSError as exc:
                raise _Unusable(
                    f"cannot lock account {account_id} ({path}: {exc.strerror})"
                ) from None
            if not try_lock(fd):
                holder = _read(fd)
                os.close(fd)
                raise AlreadyGuarded(
                    f"another fsm-risk service on this machine monitors account {account_id} "
                    f"of {self.shown} ({_describe(holder)}): two services would both enforce on "
                    "it; stop that one, or name other accounts in [general] accounts"
                )
            held.append(fd)
            with contextlib.suppress(OSError):  # only for a later refusal's message
                os.ftruncate(fd, 0)
                os.lseek(fd, 0, os.SEEK_SET)
                os.write(fd, json.dumps(self._me()).encode())

    def _drop(self, account_id: int) -> None:
        for fd in self._held.pop(account_id, []):
            with contextlib.suppress(OSError):
                unlock(fd)
            os.close(fd)

    def _private_directory(self) -> None:
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise _Unusable(
                f"cannot make the directory of account locks {self.directory}: {exc.strerror}"
            ) from None
        if hasattr(os, "getuid") and self.directory.stat().st_uid != os.getuid():
            raise _Unusable(f"the directory of account locks {self.directory} is another user's")

    def _me(self) -> dict[str, object]:
        since = datetime.now(UTC).replace(microsecond=0).isoformat()
        return {"pid": os.getpid(), "database": self.database, "since": since}


class _Unusable(Exception):
    """No account lock can be taken here (not: another service holds one)."""


def _read(fd: int) -> dict[str, object] | None:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        found = json.loads(os.read(fd, 4096) or b"null")
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def _describe(holder: dict[str, object] | None) -> str:
    if not holder:
        return "holder unknown"
    pid, database, since = (holder.get(k) for k in ("pid", "database", "since"))
    return f"pid {pid}, database {database}, since {since}"
