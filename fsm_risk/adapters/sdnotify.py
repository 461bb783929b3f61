"""The service manager's notification protocol (systemd's sd_notify), in a few lines.

systemd starts a ``Type=notify`` unit with ``NOTIFY_SOCKET`` (a Unix datagram socket; a
leading ``@`` names the abstract namespace) and, with ``WatchdogSec=``, ``WATCHDOG_USEC`` (and
``WATCHDOG_PID``). The service sends ``READY=1`` once it enforces (after reconciliation),
``WATCHDOG=1`` from its event loop at least twice per watchdog period (a hung loop stops
petting and systemd restarts the service), and ``STOPPING=1`` when it shuts down.

Outside systemd (no ``NOTIFY_SOCKET``, or on a platform without Unix sockets) every call does
nothing. Sending never raises: a notification that cannot be delivered is not worth a crash.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping


class SystemdNotifier:
    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        if address.startswith("@"):
            address = "\0" + address[1:]
        #: where notifications go; None outside systemd
        self.address: str | None = address or None
        if not hasattr(socket, "AF_UNIX"):
            self.address = None
        #: seconds between watchdog pets (a third of the period systemd asked for, so always
        #: under half of it); None: no watchdog
        self.watchdog_interval: float | None = None
        usec, pid = env.get("WATCHDOG_USEC", ""), env.get("WATCHDOG_PID", "")
        for_me = not pid or (pid.isdigit() and int(pid) == os.getpid())
        if self.address and usec.isdigit() and int(usec) > 0 and for_me:
            self.watchdog_interval = int(usec) / 1_000_000 / 3

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def ready(self, status: str = "") -> None:
        self._send("READY=1" + (f"\nSTATUS={status}" if status else ""))

    def watchdog(self) -> None:
        if self.watchdog_interval is not None:
            self._send("WATCHDOG=1")

    def extend_start(self, seconds: float) -> None:
        """The start goes on (a login waiting out a gateway in trouble): the start timeout is
        pushed to at least ``seconds`` from now."""
        self._send(f"EXTEND_TIMEOUT_USEC={int(seconds * 1_000_000)}")

    def stopping(self) -> None:
        self._send("STOPPING=1")

    def status(self, text: str) -> None:
        self._send(f"STATUS={text}")

    def _send(self, message: str) -> None:
        if self.address is None:
            return
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
                s.sendto(message.encode(), self.address)
        except OSError:
            pass
