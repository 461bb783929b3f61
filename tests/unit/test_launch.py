"""The `fsm-risk` executable ends quietly on Ctrl-C while it is still loading, and a
`serve` that is still loading ignores SIGHUP (the running service reloads on it)."""

from __future__ import annotations

import signal
import sys
from types import ModuleType

import pytest

from fsm_risk import launch


class Interrupting(ModuleType):
    def __getattr__(self, name: str) -> object:
        raise KeyboardInterrupt  # Ctrl-C while the command line is being imported


def test_ctrl_c_while_loading_exits_130_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "fsm_risk.cli", Interrupting("fsm_risk.cli"))
    monkeypatch.setattr(sys, "argv", ["fsm-risk", "serve"])
    previous = signal.getsignal(signal.SIGHUP)
    try:
        with pytest.raises(SystemExit) as exit_:
            launch.main()
        assert exit_.value.code == 130
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, previous)
