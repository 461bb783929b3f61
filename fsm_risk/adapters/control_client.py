"""The command line's side of the control channel, with the standard library only.

`fsm-risk status`, `history` and `transition` talk to the running service through it; it loads
no web framework, no SDK and no database layer, so those commands answer at once. A service is
running when its control socket accepts a connection (the socket is removed at a clean stop;
a crash's leftover refuses connections).
"""

from __future__ import annotations

import configparser
import contextlib
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


class Unreachable(FsmRiskError):
    """No service answers on the control socket."""


def settings_path(given: str | None) -> Path:
    """The settings file: the one given, else ``$FSM_RISK_SETTINGS``, else ./settings.ini."""
    return Path(given or os.environ.get(SETTINGS_ENV) or DEFAULT_SETTINGS)


def socket_path(settings_file: Path) -> Path:
    """``[control] socket`` read straight from the file (relative paths: from its folder)."""
    parser = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=("#", ";"))
    # a broken file: the default here; the full loader reports what is wrong with it
    with contextlib.suppress(configparser.Error, UnicodeDecodeError):
        parser.read(settings_file, encoding="utf-8")
    value = parser.get("control", "socket", fallback="") or DEFAULT_SOCKET
    p = Path(value).expanduser()
    return p if p.is_absolute() else settings_file.resolve().parent / p


class _UnixConnection(http.client.HTTPConnection):
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
    path: str | Path,
    method: str,
    route: str,
    body: dict[str, Any] | None = None,
    timeout: float = 30.0,
) -> Any:
    """One request to the running service. Raises `Unreachable` when no service answers,
    `FsmRiskError` with the service's own message when it refuses."""
    conn = _UnixConnection(Path(path), timeout)
    try:
        try:
            conn.connect()
        except OSError as exc:
            raise Unreachable(
                f"no fsm-risk service answers at {path}: {exc.strerror or exc}"
            ) from None
        payload = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if payload is not None else {}
        try:
            conn.request(method, route, body=payload, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
        except (OSError, http.client.HTTPException) as exc:
            raise FsmRiskError(f"the service at {path} did not answer: {exc}") from None
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
