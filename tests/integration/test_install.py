"""`fsm-risk service install`: the systemd unit passes `systemd-analyze verify` and has what a
guardian needs; an install writes its files with their owners' modes and runs systemctl; the
launchd plist and the Windows commands are generated and checked here (they cannot run here).
"""

from __future__ import annotations

import configparser
import os
import plistlib
import shutil
import stat
import subprocess
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

import pytest
from click.testing import CliRunner

from fsm_risk import config, install, winservice
from fsm_risk.cli import main

SETTINGS = Path(__file__).resolve().parents[2] / "settings.ini"


def analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found:
        return found
    reason = "systemd-analyze is not installed (apt-get install systemd; .ci/run does)"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(reason)
    pytest.skip(reason)


def verify(unit_text: str, folder: Path) -> subprocess.CompletedProcess[str]:
    unit = folder / "fsm-risk.service"
    unit.write_text(unit_text)
    return subprocess.run(
        [analyze(), "verify", str(unit)], capture_output=True, text=True, check=False
    )


def test_the_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    result = verify(install.systemd_unit(install.executable()), tmp_path)
    assert result.returncode == 0 and "fsm-risk.service" not in result.stderr, result.stderr


def test_verify_would_catch_a_broken_unit(tmp_path: Path) -> None:
    """The check above means something: a bad value or a missing program is reported."""
    text = install.systemd_unit(install.executable()).replace("WatchdogSec=30", "WatchdogSec=x")
    assert "Failed to parse" in verify(text, tmp_path).stderr
    assert verify(install.systemd_unit("/nonexistent/fsm-risk"), tmp_path).returncode != 0


def unit() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(install.systemd_unit("/opt/fsm-risk/bin/fsm-risk"))
    return parser["Service"]


def test_the_unit_is_notify_with_a_watchdog_always_restarted_as_its_own_hardened_user() -> None:
    s = unit()
    assert s["Type"] == "notify" and int(s["WatchdogSec"]) > 0 and s["Restart"] == "always"
    assert s["ExecStart"] == (
        "/opt/fsm-risk/bin/fsm-risk serve --settings /etc/fsm-risk/settings.ini"
    )
    assert s["User"] == s["Group"] == "fsm-risk" and s["StateDirectory"] == "fsm-risk"
    assert s["StateDirectoryMode"] == "0700" and s["UMask"] == "0077"
    assert s["NoNewPrivileges"] == "yes" and s["ProtectSystem"] == "strict"
    assert s["ProtectHome"] == "yes" and s["CapabilityBoundingSet"] == ""
    # the credentials file is read by systemd (as root) and must exist: no silent paper mode
    assert s["EnvironmentFile"] == "/etc/fsm-risk/credentials.env"


class Recorder:
    def __init__(self) -> None:
        self.commands: list[tuple[str, ...]] = []

    def __call__(self, argv: Sequence[str]) -> int:
        self.commands.append(tuple(argv))
        return 0


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_an_install_writes_unit_settings_and_credentials_with_their_modes(tmp_path: Path) -> None:
    plan = install.linux_plan("/opt/fsm-risk/bin/fsm-risk", SETTINGS.read_text())
    run = Recorder()
    install.apply(plan, root=tmp_path, run=run)
    unit_file = tmp_path / "etc/systemd/system/fsm-risk.service"
    assert unit_file.read_text() == install.systemd_unit("/opt/fsm-risk/bin/fsm-risk")
    assert mode(unit_file) == 0o644
    etc = tmp_path / "etc/fsm-risk"
    assert mode(etc) == 0o750 and mode(etc / "settings.ini") == 0o640
    assert mode(etc / "credentials.env") == 0o600
    owners = {(str(s.path), s.owner, s.group) for s in plan.steps if s.kind in ("file", "dir")}
    assert ("/etc/fsm-risk/settings.ini", "root", "fsm-risk") in owners  # the service reads
    assert ("/etc/fsm-risk/credentials.env", "root", "root") in owners  # systemd reads
    assert run.commands == [
        ("systemctl", "daemon-reload"),
        ("systemctl", "enable", "fsm-risk"),
        ("systemctl", "restart", "fsm-risk"),
    ]
    # the installed settings are valid and point into the service's own directories
    installed = config.load(etc / "settings.ini")
    assert installed.database == Path("/var/lib/fsm-risk/fsm-risk.db")
    assert installed.log_file == Path("/var/log/fsm-risk/fsm-risk.log")
    assert installed.control_socket == Path("/run/fsm-risk/control.sock")
    assert installed.control_token_file == Path("/run/fsm-risk/control-token")
    # the admin's credentials survive a re-install
    (etc / "credentials.env").write_text("PROJECT_X_USERNAME=me\nPROJECT_X_API_KEY=k\n")
    install.apply(plan, root=tmp_path, run=Recorder())
    assert "PROJECT_X_USERNAME=me" in (etc / "credentials.env").read_text()


def test_without_credentials_the_service_is_enabled_but_not_started() -> None:
    plan = install.linux_plan("/x/fsm-risk", "", start=False)
    commands = [s.argv for s in plan.steps if s.kind == "run"]
    assert ("systemctl", "enable", "fsm-risk") in commands
    assert not any("restart" in c or "start" in c for c in commands)
    assert any("credentials.env" in s.text for s in plan.steps if s.kind == "note")
    assert not install.credentials_ready(install.CREDENTIALS_TEMPLATE)
    assert install.credentials_ready("PROJECT_X_USERNAME=me\nPROJECT_X_API_KEY=abcdefghij\n")


def test_the_settings_rewrite_keeps_comments_and_a_postgresql_database() -> None:
    text = "# mine\n[general]\n# the db\ndatabase = postgresql://u@h/db\n[rule.max_contracts]\n"
    out = install.linux_plan("/x", text).steps[3].content.decode()
    assert "# mine" in out and "# the db" in out and "database = postgresql://u@h/db" in out
    assert "log_file = /var/log/fsm-risk/fsm-risk.log" in out
    assert "[control]\nsocket = /run/fsm-risk/control.sock" in out


def test_the_launchd_plist_keeps_the_daemon_alive_as_its_own_user() -> None:
    plan = install.mac_plan("/opt/fsm-risk/bin/fsm-risk", SETTINGS.read_text())
    plist_step = plan.main_file()
    assert plist_step.path == PurePosixPath("/Library/LaunchDaemons/com.fsm-risk.service.plist")
    plist = plistlib.loads(plist_step.content)
    assert plist["Label"] == "com.fsm-risk.service"
    assert plist["KeepAlive"] is True and plist["RunAtLoad"] is True
    assert plist["UserName"] == "_fsmrisk"
    assert plist["ProgramArguments"] == [
        "/opt/fsm-risk/bin/fsm-risk",
        "serve",
        "--settings",
        "/Library/Application Support/fsm-risk/settings.ini",
    ]
    commands = [s.argv for s in plan.steps if s.kind == "run"]
    assert ("launchctl", "bootstrap", "system", str(plist_step.path)) in commands


def test_the_windows_service_commands() -> None:
    plan = install.windows_plan(r"C:\Python312\python.exe", SETTINGS.read_text())
    commands = [s.argv for s in plan.steps if s.kind == "run"]
    assert commands[0] == (
        r"C:\Python312\python.exe", "-m", "fsm_risk.winservice", "--startup", "auto", "install"
    )  # fmt: skip
    assert ("sc.exe", "config", "fsm-risk", "obj=", r"NT SERVICE\fsm-risk", "password=", "") in (
        commands
    )
    failure = next(c for c in commands if c[:2] == ("sc.exe", "failure"))
    assert "restart/5000/restart/5000/restart/5000" in failure
    acl = next(c for c in commands if c[0] == "icacls")
    assert "/inheritance:r" in acl and r"NT SERVICE\fsm-risk:(OI)(CI)RX" in acl
    assert commands[-1] == ("sc.exe", "start", "fsm-risk")
    settings = next(s for s in plan.steps if s.kind == "file" and not s.keep).content.decode()
    assert r"credentials_file = C:\ProgramData\fsm-risk\credentials" in settings
    # the service module imports without pywin32 and runs `fsm-risk serve` as its child
    child = winservice.command_line("python.exe")
    assert child == [
        "python.exe",
        "-m",
        "fsm_risk",
        "serve",
        "--settings",
        str(winservice.SETTINGS),
    ]
    assert str(winservice.SETTINGS) == r"C:\ProgramData\fsm-risk\settings.ini"
    assert not hasattr(winservice, "FsmRiskService")


def test_service_status_reads_systemd() -> None:
    out = "LoadState=loaded\nUnitFileState=enabled\nActiveState=active\nSubState=running\n"
    out += "MainPID=4242\nNRestarts=3\nStatusText=enforcing 1 account(s)\n"
    assert install.linux_status(lambda argv: out) == (
        "fsm-risk: installed, enabled, active (running), pid 4242, restarts 3: "
        "enforcing 1 account(s)"
    )
    assert install.linux_status(lambda argv: "LoadState=not-found\n").endswith(
        "not installed (sudo fsm-risk service install)"
    )


def test_service_status_without_systemd_says_so() -> None:
    assert install.linux_status(lambda argv: "") == (
        "fsm-risk: systemd is not running here (no service manager to ask)"
    )


def test_the_cli_prints_each_platforms_service_without_installing() -> None:
    runner = CliRunner()
    linux = runner.invoke(main, ["service", "install", "--print", "--settings", str(SETTINGS)])
    assert linux.exit_code == 0 and "Type=notify" in linux.output
    assert "--settings /etc/fsm-risk/settings.ini" in linux.output
    mac = runner.invoke(
        main, ["service", "install", "--print", "--platform", "darwin", "--settings", str(SETTINGS)]
    )
    assert mac.exit_code == 0 and "<key>KeepAlive</key>" in mac.output
    win = runner.invoke(
        main, ["service", "install", "--print", "--platform", "win32", "--settings", str(SETTINGS)]
    )
    assert win.exit_code == 0 and "sc.exe failure fsm-risk" in win.output
    refused = runner.invoke(main, ["service", "install", "--platform", "darwin"])
    assert refused.exit_code != 0 and "--platform works only with --print" in refused.output


def test_the_unit_refuses_to_start_without_broker_credentials() -> None:
    """Without them `serve` would watch the paper gateway, not the trader's account."""
    pre = unit()["ExecStartPre"]
    assert pre.startswith("/bin/sh -c '") and pre.endswith("'")
    script = pre.removeprefix("/bin/sh -c '").removesuffix("'").replace("$$", "$")  # as systemd
    empty = {"PATH": os.environ["PATH"], "PROJECT_X_USERNAME": "", "PROJECT_X_API_KEY": ""}
    refused = subprocess.run(["/bin/sh", "-c", script], env=empty, capture_output=True, text=True)
    assert refused.returncode != 0
    assert "no broker credentials in /etc/fsm-risk/credentials.env" in refused.stderr
    filled = empty | {"PROJECT_X_USERNAME": "me", "PROJECT_X_API_KEY": "abcdefghij"}
    assert subprocess.run(["/bin/sh", "-c", script], env=filled, check=False).returncode == 0
    assert "$PROJECT_X_API_KEY" not in pre.replace("$$", "")  # never expanded into the cmdline
