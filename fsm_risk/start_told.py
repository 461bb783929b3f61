"""A start that gave up, told once per `TOLD_AGAIN` to a service manager restarting it: the key
a failure is told by (its words, but for what varies from one try to the next: seconds, a
pid, a time), what its notice says, and the told marks of a start that gave up before its
service ran (its database cannot be opened, a second service refused), kept in a small file
beside the log file (the database may be what failed)."""

from __future__ import annotations

import contextlib
import json
import re
from datetime import datetime, timedelta
from pathlib import Path

from loguru import logger

from fsm_risk import logs
from fsm_risk.config import Settings

#: the same start failure is told again after this long at the earliest
TOLD_AGAIN = timedelta(hours=6)
#: the most of a failure's words a notice quotes (a proxy's error page can be long)
WHY_CHARS = 300
#: what varies between two tries of one failure: a time (of day, or a timestamp), a pid, a
#: span (a clock's "312 s (5 min)" ahead); an account id or an errorCode is the failure itself
VOLATILE = re.compile(
    r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:Z|[+-]\d\d:?\d\d)?"
    r"|(?<![\d.:])\d\d?:\d\d(?::\d\d)?(?![\d.:])"
    r"|\bpid \d+"
    r"|\b\d+(?:\.\d+)? ?(?:ms|s|sec|seconds?|min|minutes?|h|hours?|d|days?)\b"
)


def told_key(why: str) -> str:
    """The key a start failure is told by: its words, what varies blanked."""
    return VOLATILE.sub("#", why)


def quoted(why: str) -> str:
    """A failure's words as a notice quotes them: at most `WHY_CHARS`."""
    return why if len(why) <= WHY_CHARS else why[: WHY_CHARS - 3] + "..."


def fresh(told: dict[str, str], now: datetime) -> dict[str, str]:
    """The marks told less than `TOLD_AGAIN` before ``now`` (a clock set back: not fresh)."""
    kept: dict[str, str] = {}
    for key, at in told.items():
        with contextlib.suppress(ValueError, TypeError):
            if timedelta(0) <= now - datetime.fromisoformat(at) < TOLD_AGAIN:
                kept[key] = at
    return kept


def mark_path(settings: Settings) -> Path:
    """The told marks of the start failures told before the service ran."""
    return settings.log_file.with_name(settings.log_file.stem + ".start-told.json")


def read_marks(path: Path) -> dict[str, str]:
    try:
        told = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        logger.warning("{} start failures told: not read ({!r})", logs.ALERT, exc)
        return {}
    return {str(k): str(v) for k, v in told.items()} if isinstance(told, dict) else {}


def forget(settings: Settings) -> None:
    """The start went through: a later failure, even the same, is news."""
    with contextlib.suppress(OSError):
        mark_path(settings).unlink(missing_ok=True)


def keep(path: Path, told: dict[str, str]) -> None:
    """Write the marks (a full disk, a read-only directory: logged; told again next time)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(told))
    except OSError as exc:
        logger.warning("{} start failure told: not kept ({!r})", logs.ALERT, exc)


def failed_words(why: str, *, guarded: bool = False) -> tuple[str, str, str]:
    """The title, body and level of a start that gave up: nothing is enforced; or,
    ``guarded``, a second service did not start because another one already enforces its
    accounts."""
    if guarded:
        return (
            "fsm-risk not started: already guarded",
            f"a second fsm-risk did not start: {quoted(why)}. The one running goes on "
            "enforcing; nothing changed.",
            "warning",
        )
    return (
        "fsm-risk NOT ENFORCING: the start failed",
        f"fsm-risk stopped without enforcing anything: {quoted(why)}. Nothing is enforced until "
        "that is fixed and fsm-risk started again (the same failure is told again after "
        f"{TOLD_AGAIN.total_seconds() / 3600:.0f} h at the earliest).",
        "failure",
    )
