"""The ``fsm-risk`` executable. A Ctrl-C (or a hang-up) at any moment, even while the command
line is still loading, ends it quietly (exit 130) instead of printing a traceback."""

from __future__ import annotations

import signal
import sys
from types import FrameType


def _hang_up(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # handled like Ctrl-C until a command routes it elsewhere


def main() -> None:
    hup = getattr(signal, "SIGHUP", None)  # POSIX only
    if hup is not None and signal.getsignal(hup) is signal.SIG_DFL:
        signal.signal(hup, _hang_up)
    try:
        from fsm_risk.cli import main as command_line
    except KeyboardInterrupt:
        sys.exit(130)
    command_line()
