"""The command line's side of the control channel, with the standard library only.

`fsm-risk status`, `history` and `transition` talk to the running service through it; it loads
no web framework, no SDK and no database layer, so those commands answer at once. A service is
running when its control socket accepts a connection (the socket is removed at a clean stop;
a crash's leftover refuses connections).
"""

from __future__ import annotations

import http.client
import json
import os
import socket
from pathlib import Path
from typing import Any

from fsm_risk.errors import FsmRiskError

SETTINGS_ENV = "FSM_RISK_SETTINGS"
DEFAULT_SETTINGS = "settings.ini"
DEFAULT_SOCKET = "var/fsm-risk.sock"
LOOPBACK = "127.0.0.1"


class Unreachable(FsmRiskError):
    """No service answers on the control socket."""


def settings_path(given: str | None) -> Path:
    """The settings file: the one given, else ``$FSM_RISK_SETTINGS``, else settings.ini in
    the current folder."""
    return Path(given or os.environ.get(SETTINGS_ENV) or DEFAULT_SETTINGS)


def socket_path(settings_file: Path) -> Path | None:
    """``[control] socket`` read straight from the file (relative paths: from its folder);
    None when the control channel is loopback TCP (its port is in the database)."""
    from fsm_risk import config

    return config.control_socket_of(settings_file, DEFAULT_SOCKET)


class _UnixConnection(http.client.HTTPConnection):
    """HTTP over a Unix socket (POSIX only; the class is only used where they exist)."""

    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__("fsm-risk", timeout=timeout)
        self.unix_path = str(path)

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.unix_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def request(
    where: Any,
    method: str,
    route: str,
    body: dict[str, Any] | None = None,
    timeout: float = 30.0,
) -> Any:
    """One request to the running service at ``where``: a Unix socket path, or an endpoint
    with ``path`` or a loopback ``port`` and its ``token``. Raises `Unreachable` when no
    service answers, `FsmRiskError` with the service's own message when it refuses."""
    path = getattr(where, "path", where)
    headers: dict[str, str] = {}
    conn: http.client.HTTPConnection
    if path is not None:
        conn = _UnixConnection(Path(path), timeout)
    else:
        conn = http.client.HTTPConnection(LOOPBACK, where.port, timeout=timeout)
        headers["Authorization"] = f"Bearer {where.token}"
    try:
        try:
            conn.connect()
        except OSError as exc:
            raise Unreachable(
                f"no fsm-risk service answers at {where}: {exc.strerror or exc}"
            ) from None
        payload = None if body is None else json.dumps(body).encode()
        if payload is not None:
            headers["Content-Type"] = "application/json"
        try:
            conn.request(method, route, body=payload, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
        except http.client.IncompleteRead:
            raise FsmRiskError(
                f"the service at {where} broke off its answer (its log says why)"
            ) from None
        except (OSError, http.client.HTTPException) as exc:
            raise FsmRiskError(f"the service at {where} did not answer: {exc}") from None
    finally:
        conn.close()
    try:
        data = json.loads(raw)
    except ValueError:
        raise FsmRiskError(f"the service answered {resp.status} without JSON") from None
    if resp.status >= 400:
        message = data.get("error") if isinstance(data, dict) else None
        raise FsmRiskError(message or f"the service answered {resp.status}")
    return data
