"""The ``fsm-risk`` executable. A Ctrl-C at any moment, even while the command line is still
loading, ends it quietly (exit 130) instead of printing a traceback; a SIGHUP while `serve`
is still loading is ignored (once it runs, SIGHUP reloads the settings)."""

from __future__ import annotations

import gc
import signal
import sys


def main() -> None:
    hup = getattr(signal, "SIGHUP", None)  # POSIX only
    if hup is not None and "serve" in sys.argv[1:2]:
        signal.signal(hup, signal.SIG_IGN)
    gc.disable()  # loading makes next to no garbage: collections would only walk the modules
    try:
        from fsm_risk.cli import main as command_line
    except KeyboardInterrupt:
        sys.exit(130)
    finally:
        gc.enable()
    command_line()
