"""fsm-risk as a Windows service (pywin32), registered by `fsm-risk service install`.

The service runs ``fsm-risk serve`` as a child process under the service's own account and
ends when the child ends: the service control manager's recovery actions (``sc.exe failure``,
set at install) start it again. Stopping the service ends the child; every change was
committed before it was acted on, so an abrupt end loses nothing.

    python -m fsm_risk.winservice --startup auto install | remove | start | stop | debug

Only importable for use on Windows with pywin32; elsewhere `command_line` is still usable (and
tested), and the module imports without pywin32.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import PureWindowsPath

NAME = "fsm-risk"
DISPLAY_NAME = "fsm-risk risk guardian"
DESCRIPTION = "Enforces the trading account's risk rules (ProjectX); stopping it needs an admin."
SETTINGS = PureWindowsPath(r"C:\ProgramData\fsm-risk\settings.ini")


def command_line(python: str, settings: PureWindowsPath = SETTINGS) -> list[str]:
    """The child process the service runs."""
    return [python, "-m", "fsm_risk", "serve", "--settings", str(settings)]


def _python() -> str:
    """python.exe of this installation (the service host is pythonservice.exe, not Python)."""
    for candidate in (
        os.path.join(sys.exec_prefix, "python.exe"),
        os.path.join(sys.exec_prefix, "Scripts", "python.exe"),  # a virtual environment
    ):
        if os.path.exists(candidate):
            return candidate
    return sys.executable


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import servicemanager
    import win32event
    import win32service
    import win32serviceutil

    class FsmRiskService(win32serviceutil.ServiceFramework):  # type: ignore[misc]
        _svc_name_ = NAME
        _svc_display_name_ = DISPLAY_NAME
        _svc_description_ = DESCRIPTION

        def __init__(self, args: list[str]) -> None:
            super().__init__(args)
            self.stop_event = win32event.CreateEvent(None, 0, 0, None)
            self.child: subprocess.Popen[bytes] | None = None

        def SvcStop(self) -> None:
            self.ReportServiceStatus(win32service.SERVICE_STOP_PENDING)
            win32event.SetEvent(self.stop_event)

        def SvcDoRun(self) -> None:
            servicemanager.LogInfoMsg(f"{NAME}: starting")
            python = _python()
            self.child = subprocess.Popen(command_line(python))
            while True:
                if win32event.WaitForSingleObject(self.stop_event, 1000) == 0:
                    self.child.terminate()
                    self.child.wait(30)
                    return
                if self.child.poll() is not None:
                    # the guardian died: fail, so the recovery actions restart the service
                    servicemanager.LogErrorMsg(f"{NAME}: serve exited with {self.child.returncode}")
                    raise SystemExit(1)

    if __name__ == "__main__":
        win32serviceutil.HandleCommandLine(FsmRiskService)
elif __name__ == "__main__":
    sys.exit("fsm_risk.winservice: Windows only (pywin32)")
