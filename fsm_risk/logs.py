"""Logging: loguru, human-readable on the console, JSON lines to a file, secrets masked.

Checkpoints are logged under fixed markers so that "it runs but nothing happens" is
diagnosable at a glance: ``grep FSM: fsm-risk.log``.

A log call of `serve` never waits for the console or the disk. It logs on its event loop, the
one thread that handles every event and sends every close: written there, a console paused
(Ctrl-S, a pager or a log shipper that stopped reading a pipe) froze every close and cancel
for as long as it stayed paused (70 s, 5 breaches of 6 not touched), and a slow disk under
the log file held bursts of closes up by a second. So each sink (`_Behind`) takes the line
its record was formatted into and queues it; a thread of its own writes it out. A line not
written yet is held in memory, up to `BEHIND_LIMIT` lines per sink; past that, lines are
dropped and counted, and the count is written when the sink writes again. What is queued is
written before the process exits (`drain`, at exit: bounded by `DRAIN_TIMEOUT`).
"""

from __future__ import annotations

import atexit
import logging
import logging.handlers
import os
import queue
import re
import sys
import threading
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

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


#: what every LogRecord carries (left alone by `_Masking`; anything else is a caller's extra)
_RECORD_ATTRS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class _Masking(logging.Filter):
    """Masks a record of Python's logging before a handler a library added writes it (the
    SDK's own JSON lines on stdout, a library's warning on stderr): its message, its
    traceback, and every extra field beside them."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:  # (arguments that do not fit the format: shown as given)
            text = f"{record.msg} {record.args}"
        if record.exc_info:
            text += "\n" + logging.Formatter().formatException(record.exc_info)
            record.exc_info, record.exc_text = None, None
        record.msg, record.args = mask(text), None
        for key, value in list(vars(record).items()):
            if key not in _RECORD_ATTRS and not isinstance(value, int | float | None):
                setattr(record, key, mask(str(value)))
        return True


_MASKING = _Masking()


def mask_library_logging() -> None:
    """Every handler of Python's logging (a library's own, the last resort) masks secrets."""
    handlers = [logging.lastResort, *logging.getLogger().handlers]
    for log in list(logging.Logger.manager.loggerDict.values()):
        if isinstance(log, logging.Logger):
            handlers.extend(log.handlers)
    for handler in handlers:
        if handler is not None and _MASKING not in handler.filters:
            handler.addFilter(_MASKING)


def _patch(record: Any) -> None:
    record["message"] = mask(record["message"])
    if record["exception"] is not None:
        exc = record["exception"]
        if exc.value is not None:
            record["extra"]["error"] = mask(repr(exc.value))


#: lines a sink holds while its writer is held up (a paused console, a stalled disk)
BEHIND_LIMIT = 100_000
#: how long the exit (or a sink's removal) waits for the lines still queued
DRAIN_TIMEOUT = 5.0
#: the log file's size at which it is rotated, and the rotated files kept
ROTATE_BYTES, ROTATED_KEPT = 50 * 1024 * 1024, 5

_sinks: weakref.WeakSet[_Behind] = weakref.WeakSet()


class _Behind:
    """A loguru sink that queues each formatted line for its own writer thread (see the
    module's doc): ``write`` never blocks."""

    def __init__(self, out: Callable[[str], None], name: str, tty: bool = False) -> None:
        self._out = out
        self._tty = tty
        self._queue: queue.SimpleQueue[str | threading.Event | None] = queue.SimpleQueue()
        self._dropped = 0  # (under `_count`: the logging and the writing threads change it)
        self._count = threading.Lock()
        self._held = False  # a drain timed out: the writer is held up (the exit waits no more)
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        _sinks.add(self)

    def isatty(self) -> bool:  # (loguru colours a console's lines only)
        return self._tty

    def write(self, message: str) -> None:
        if self._queue.qsize() >= BEHIND_LIMIT:
            with self._count:
                self._dropped += 1
            return
        self._queue.put(str(message))

    def drain(self, timeout: float = DRAIN_TIMEOUT) -> bool:
        """Wait until what is queued now is written (False: not within ``timeout``)."""
        done = threading.Event()
        self._queue.put(done)
        self._held = not done.wait(0.0 if self._held else timeout)
        return not self._held

    def stop(self) -> None:  # (loguru: the sink is removed; at exit too, after `drain`)
        self.drain()
        self._queue.put(None)
        _sinks.discard(self)

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            if isinstance(item, threading.Event):
                item.set()
                continue
            with self._count:
                dropped, self._dropped = self._dropped, 0
            try:
                if dropped:
                    self._out(f"... {dropped} log line(s) dropped: the log could not take them\n")
                self._out(item)
            except Exception:  # a line that cannot be written is lost, not the service
                with self._count:
                    self._dropped += 1


def drain(timeout: float = DRAIN_TIMEOUT) -> None:
    """Write out what every sink has queued (at most ``timeout`` seconds each)."""
    for sink in list(_sinks):
        sink.drain(timeout)


atexit.register(drain)


def printer() -> Callable[[str], None]:
    """``click.echo`` for what `serve` prints on stdout while it enforces (its banner, "every
    account is reconciled"), through a sink of its own: never waits for the console."""
    sink = _Behind(_console(sys.stdout, masked=False), "stdout")  # (as click.echo wrote it)

    def echo(text: str) -> None:
        sink.write(f"{text}\n")

    return echo


def _console(stream: IO[str], masked: bool = True) -> Callable[[str], None]:
    def out(line: str) -> None:
        # (a traceback's text too, which `_patch` cannot reach)
        stream.write(mask(line) if masked else line)
        stream.flush()

    return out


class _LogFile(logging.handlers.RotatingFileHandler):
    """The log file, rotated by size; every file it creates owner-only."""

    def _open(self) -> IO[str]:
        from fsm_risk import private

        return open(self.baseFilename, self.mode, encoding=self.encoding, opener=private.opener)


def _file(path: Path) -> Callable[[str], None]:
    handler = _LogFile(path, maxBytes=ROTATE_BYTES, backupCount=ROTATED_KEPT, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.terminator = ""  # (the line ends with its own newline)

    def out(line: str) -> None:
        handler.emit(logging.makeLogRecord({"msg": mask(line), "args": None}))

    return out


class _Direct:
    """A loguru sink writing each line as it comes (a command that ends at once, not `serve`)."""

    def __init__(self, out: Callable[[str], None], tty: bool = False) -> None:
        self.write, self._tty = out, tty

    def isatty(self) -> bool:
        return self._tty


def setup(
    log_file: Path | None = None,
    *,
    level: str = "INFO",
    console: bool = True,
    queued: bool = False,
) -> None:
    """Configure loguru once per process; quiet the SDK's own JSON logging. ``queued``: each
    line is written by a thread of its own (`_Behind`), for `serve`, whose event loop must
    never wait for a console or a disk; a command that ends at once writes as it logs."""
    logger.remove()
    logger.configure(patcher=_patch)

    def sink(out: Callable[[str], None], name: str, tty: bool = False) -> _Behind | _Direct:
        return _Behind(out, name, tty) if queued else _Direct(out, tty)

    if console:
        tty = sys.stderr.isatty() and "NO_COLOR" not in os.environ
        logger.add(
            sink(_console(sys.stderr), "log-console", tty),
            level=level,
            format="<green>{time:YYYY-MM-DD HH:mm:ss.SSS Z}</green> <level>{level: <8}</level> "
            "{message}",
            backtrace=False,
            diagnose=False,
        )
    if log_file is not None:
        from fsm_risk import private

        private.private_file(log_file)
        logger.add(
            sink(_file(log_file), "log-file"),
            level="DEBUG",
            serialize=True,
            backtrace=False,
            diagnose=False,
        )
    for name in ("project_x_py", "pysignalr", "websockets", "httpx", "aiohttp.access"):
        logging.getLogger(name).setLevel(logging.WARNING)
    mask_library_logging()
