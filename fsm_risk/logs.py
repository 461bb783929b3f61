"""Logging: loguru, human-readable on the console, JSON lines to a file, secrets masked.

Checkpoints are logged under fixed markers so that "it runs but nothing happens" is
diagnosable at a glance: ``grep FSM: fsm-risk.log``.
"""

from __future__ import annotations

import logging
import re
import sys
from pathlib import Path
from typing import Any

from loguru import logger

# --- fixed, greppable checkpoint markers --------------------------------------------------
SERVICE_START = "FSM:SERVICE_START"
SETTINGS_LOADED = "FSM:SETTINGS_LOADED"
GATEWAY_CONNECTED = "FSM:GATEWAY_CONNECTED"
MACHINES_RESTORED = "FSM:MACHINES_RESTORED"
EVENT_LOOP_RUNNING = "FSM:EVENT_LOOP_RUNNING"
FIRST_EVENT = "FSM:FIRST_EVENT"
RULE_EVALUATED = "FSM:RULE_EVALUATED"
ENFORCEMENT_SENT = "FSM:ENFORCEMENT_SENT"
ENFORCEMENT_CONFIRMED = "FSM:ENFORCEMENT_CONFIRMED"
ALERT = "FSM:ALERT"
FEED = "FSM:FEED"
SERVICE_STOP = "FSM:SERVICE_STOP"

_secrets: set[str] = set()
_PATTERNS = [
    re.compile(
        r"(?i)(api[_-]?key|apikey|password|secret|token|access_token)(\"?\s*[:=]\s*\"?)"
        r"([^\s\"'&,}]+)"
    ),
    re.compile(r"(?i)(bearer\s+)([A-Za-z0-9._\-]+)"),
]


def register_secret(value: str | None) -> None:
    """Never print this value: it is replaced by *** wherever it would appear."""
    if value and len(value) >= 4:
        _secrets.add(value)


def mask(text: str) -> str:
    for s in sorted(_secrets, key=len, reverse=True):
        text = text.replace(s, "***")
    text = _PATTERNS[0].sub(lambda m: f"{m.group(1)}{m.group(2)}***", text)
    return _PATTERNS[1].sub(lambda m: f"{m.group(1)}***", text)


def _patch(record: Any) -> None:
    record["message"] = mask(record["message"])
    if record["exception"] is not None:
        exc = record["exception"]
        if exc.value is not None:
            record["extra"]["error"] = mask(repr(exc.value))


def setup(log_file: Path | None = None, *, level: str = "INFO", console: bool = True) -> None:
    """Configure loguru once per process; quiet the SDK's own JSON logging."""
    logger.remove()
    logger.configure(patcher=_patch)
    if console:
        logger.add(
            sys.stderr,
            level=level,
            format="<green>{time:YYYY-MM-DD HH:mm:ss.SSS}</green> <level>{level: <8}</level> "
            "{message}",
            backtrace=False,
            diagnose=False,
        )
    if log_file is not None:
        from fsm_risk import private

        private.private_file(log_file)
        logger.add(
            str(log_file),
            opener=private.opener,
            level="DEBUG",
            serialize=True,
            backtrace=False,
            diagnose=False,
            rotation="50 MB",
            retention=5,
        )
    for name in ("project_x_py", "pysignalr", "websockets", "httpx", "aiohttp.access"):
        logging.getLogger(name).setLevel(logging.WARNING)
