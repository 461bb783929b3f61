"""Installing fsm-risk as a system service the trader's own account cannot stop or edit.

- Linux: a systemd unit (``Type=notify``: ready once it enforces; a watchdog restarts a hung
  event loop; ``Restart=always``), run as its own system user with its own state, log and
  runtime directories, hardened (read-only system, no home, no new privileges). Settings live
  in ``/etc/fsm-risk`` owned by root and readable by the service's group; the broker
  credentials in a root-only environment file systemd reads before dropping privileges.
- macOS: a launchd daemon (``KeepAlive``, ``RunAtLoad``, ``UserName``).
- Windows: a Windows service (pywin32, `fsm_risk.winservice`) under its own virtual account,
  restarted on failure, with its folder readable only by administrators and the service.

Every platform's files and commands are generated here as a plan of steps (`Step`), so
``--print`` shows them and tests check them on any machine; `apply` carries a plan out.
"""

from __future__ import annotations

import plistlib
import re
import shlex
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePath, PurePosixPath, PureWindowsPath

from fsm_risk import textfile
from fsm_risk.errors import FsmRiskError

NAME = "fsm-risk"
USER = "fsm-risk"
WATCHDOG_SECONDS = 30

LINUX_UNIT = PurePosixPath("/etc/systemd/system/fsm-risk.service")
LINUX_ETC = PurePosixPath("/etc/fsm-risk")
LINUX_STATE = PurePosixPath("/var/lib/fsm-risk")
LINUX_LOGS = PurePosixPath("/var/log/fsm-risk")
LINUX_RUN = PurePosixPath("/run/fsm-risk")

MAC_LABEL = "com.fsm-risk.service"
MAC_USER = "_fsmrisk"
MAC_PLIST = PurePosixPath(f"/Library/LaunchDaemons/{MAC_LABEL}.plist")
MAC_HOME = PurePosixPath("/Library/Application Support/fsm-risk")
MAC_LOGS = PurePosixPath("/Library/Logs/fsm-risk")

WIN_HOME = PureWindowsPath(r"C:\ProgramData\fsm-risk")
WIN_ACCOUNT = rf"NT SERVICE\{NAME}"

CREDENTIALS_TEMPLATE = (
    "# Broker credentials for the fsm-risk service (root only; systemd reads this file).\n"
    "PROJECT_X_USERNAME=\n"
    "PROJECT_X_API_KEY=\n"
)


@dataclass(frozen=True)
class Step:
    """One action of a plan: write a file, make a folder, ensure a user, or run a command."""

    kind: str  # "file" | "dir" | "user" | "run" | "note"
    path: PurePath | None = None
    content: bytes = b""
    mode: int = 0o644
    owner: str = "root"
    group: str = "root"
    argv: tuple[str, ...] = ()
    #: "file": keep an existing file (e.g. credentials the admin filled in)
    keep: bool = False
    text: str = ""

    def describe(self) -> str:
        if self.kind == "run":
            return "run   " + shlex.join(self.argv)
        if self.kind == "user":
            return f"user  {self.owner} (a system account without login or home)"
        if self.kind == "note":
            return "note  " + self.text
        what = "dir " if self.kind == "dir" else "file"
        keep = " (kept if present)" if self.keep else ""
        return f"{what}  {self.path}  {self.owner}:{self.group} {self.mode:04o}{keep}"


@dataclass(frozen=True)
class Plan:
    platform: str
    steps: list[Step] = field(default_factory=list)

    def main_file(self) -> Step:
        """The unit, plist or service command line: what ``--print`` shows first."""
        return next(s for s in self.steps if s.kind == "file" and not s.keep)


# -- Linux: systemd ----------------------------------------------------------------------------


def systemd_unit(
    executable: str | PurePath,
    *,
    settings: PurePath = LINUX_ETC / "settings.ini",
    user: str = USER,
    watchdog_seconds: int = WATCHDOG_SECONDS,
) -> str:
    exe = str(executable)
    # a virtualenv under /home stays visible (read-only); anything else: no home at all
    home = "read-only" if exe.startswith(("/home/", "/root/")) else "yes"
    return f"""\
[Unit]
Description=fsm-risk: real-time risk guardian for ProjectX futures accounts
Wants=network-online.target
After=network-online.target
StartLimitIntervalSec=0

[Service]
Type=notify
NotifyAccess=main
ExecStartPre=/bin/sh -c 'test -n "$$PROJECT_X_USERNAME" && test -n "$$PROJECT_X_API_KEY" \
  || {{ echo "no broker credentials in {LINUX_ETC}/credentials.env" >&2; exit 1; }}'
ExecStart={exe} serve --settings {settings}
ExecReload=/bin/kill -HUP $MAINPID
EnvironmentFile={LINUX_ETC / "credentials.env"}
WatchdogSec={watchdog_seconds}
Restart=always
RestartSec=2
TimeoutStartSec=180
TimeoutStopSec=30
User={user}
Group={user}
StateDirectory=fsm-risk
StateDirectoryMode=0700
LogsDirectory=fsm-risk
LogsDirectoryMode=0700
RuntimeDirectory=fsm-risk
RuntimeDirectoryMode=0750
WorkingDirectory={LINUX_STATE}
UMask=0077
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome={home}
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
SystemCallArchitectures=native
CapabilityBoundingSet=
AmbientCapabilities=

[Install]
WantedBy=multi-user.target
"""


def service_settings(text: str, values: dict[tuple[str, str], str]) -> str:
    """``settings.ini`` with some keys set (replaced where they stand, else added to their
    section, else in a new section); comments and everything else kept as written."""
    lines = text.splitlines()
    todo = dict(values)
    section = None
    out: list[str] = []

    def flush(name: str | None) -> None:
        for (sec, key), value in list(todo.items()):
            if sec == name:
                out.append(f"{key} = {value}")
                del todo[(sec, key)]

    for line in lines:
        header = re.match(r"^\s*\[([^\]]+)\]\s*$", line)
        if header:
            flush(section)
            section = header.group(1).strip()
            out.append(line)
            continue
        kv = re.match(r"^\s*([A-Za-z0-9_.]+)\s*=", line)
        if kv and section is not None and (section, kv.group(1)) in todo:
            out.append(f"{kv.group(1)} = {todo.pop((section, kv.group(1)))}")
            continue
        out.append(line)
    flush(section)
    for sec in dict.fromkeys(s for s, _ in todo):
        out.extend(["", f"[{sec}]"])
        flush(sec)
    return "\n".join(out) + "\n"


def _keeps_database(text: str) -> bool:
    """True when the settings name a PostgreSQL server (kept as is) rather than a file."""
    from fsm_risk.schema import is_server_url

    found = re.search(r"^\s*database\s*=\s*(\S+)", text, re.MULTILINE)
    return bool(found and is_server_url(found.group(1)))


def _paths(text: str, database: PurePath, log_file: PurePath, socket: PurePath) -> str:
    """The settings with every file the service writes moved into its own directories (the
    control token beside the control socket)."""
    values = {
        ("general", "log_file"): str(log_file),
        ("control", "socket"): str(socket),
        ("control", "token_file"): str(socket.parent / "control-token"),
    }
    if not _keeps_database(text):
        values[("general", "database")] = str(database)
    return service_settings(text, values)


def linux_plan(
    executable: str | PurePath, settings_text: str, user: str = USER, *, start: bool = True
) -> Plan:
    """``start``: the broker credentials are in place. Without them the service is enabled
    but not started (it would otherwise watch the paper gateway, not the trader's account)."""
    settings = _paths(
        settings_text,
        LINUX_STATE / "fsm-risk.db",
        LINUX_LOGS / "fsm-risk.log",
        LINUX_RUN / "control.sock",
    )
    return Plan(
        "linux",
        [
            Step("file", LINUX_UNIT, systemd_unit(executable, user=user).encode()),
            Step("user", owner=user),
            Step("dir", LINUX_ETC, mode=0o750, group=user),
            Step("file", LINUX_ETC / "settings.ini", settings.encode(), 0o640, group=user),
            Step(
                "file",
                LINUX_ETC / "credentials.env",
                CREDENTIALS_TEMPLATE.encode(),
                0o600,
                keep=True,
            ),
            Step("run", argv=("systemctl", "daemon-reload")),
            Step("run", argv=("systemctl", "enable", NAME)),
            Step("run", argv=("systemctl", "restart", NAME))
            if start
            else Step(
                "note",
                text=f"not started: put the broker credentials in {LINUX_ETC}/credentials.env, "
                f"then: systemctl start {NAME}",
            ),
        ],
    )


def credentials_ready(text: str) -> bool:
    """True when an environment file sets both broker credentials."""
    values = dict(
        line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#")
    )
    return bool(values.get("PROJECT_X_USERNAME", "").strip()) and bool(
        values.get("PROJECT_X_API_KEY", "").strip()
    )


def linux_uninstall() -> Plan:
    return Plan(
        "linux",
        [
            Step("run", argv=("systemctl", "disable", "--now", NAME)),
            Step("run", argv=("rm", "-f", str(LINUX_UNIT))),
            Step("run", argv=("systemctl", "daemon-reload")),
            Step("note", text=f"kept {LINUX_ETC} (settings) and {LINUX_STATE} (state, audit log)"),
        ],
    )


# -- macOS: launchd ------------------------------------------------------------------------------


def launchd_plist(executable: str | PurePath, user: str = MAC_USER) -> bytes:
    return plistlib.dumps(
        {
            "Label": MAC_LABEL,
            "ProgramArguments": [
                str(executable),
                "serve",
                "--settings",
                str(MAC_HOME / "settings.ini"),
            ],
            "UserName": user,
            "GroupName": user,
            "RunAtLoad": True,
            "KeepAlive": True,
            "ThrottleInterval": 5,
            "ProcessType": "Interactive",
            "WorkingDirectory": str(MAC_HOME),
            "Umask": 0o077,
            "StandardOutPath": str(MAC_LOGS / "stdout.log"),
            "StandardErrorPath": str(MAC_LOGS / "stderr.log"),
        }
    )


def mac_plan(executable: str | PurePath, settings_text: str, user: str = MAC_USER) -> Plan:
    text = _paths(
        settings_text,
        MAC_HOME / "state" / "fsm-risk.db",
        MAC_LOGS / "fsm-risk.log",
        MAC_HOME / "state" / "control.sock",
    )
    text = service_settings(text, {("broker", "credentials_file"): str(MAC_HOME / "credentials")})
    return Plan(
        "darwin",
        [
            Step("file", MAC_PLIST, launchd_plist(executable, user), 0o644, group="wheel"),
            Step("user", owner=user),
            Step("dir", MAC_HOME, mode=0o750, group=user),
            Step("dir", MAC_HOME / "state", mode=0o700, owner=user, group=user),
            Step("dir", MAC_LOGS, mode=0o700, owner=user, group=user),
            Step("file", MAC_HOME / "settings.ini", text.encode(), 0o640, group=user),
            Step(
                "file",
                MAC_HOME / "credentials",
                b"username = \napi_key = \n",
                0o640,
                group=user,
                keep=True,
            ),
            Step("run", argv=("launchctl", "bootstrap", "system", str(MAC_PLIST))),
            Step("run", argv=("launchctl", "enable", f"system/{MAC_LABEL}")),
        ],
    )


def mac_uninstall() -> Plan:
    return Plan(
        "darwin",
        [
            Step("run", argv=("launchctl", "bootout", f"system/{MAC_LABEL}")),
            Step("run", argv=("rm", "-f", str(MAC_PLIST))),
            Step("note", text=f"kept {MAC_HOME} (settings, state, audit log)"),
        ],
    )


# -- Windows: a pywin32 service ------------------------------------------------------------------


def windows_plan(python: str | PurePath, settings_text: str) -> Plan:
    """Commands for an elevated prompt: the pywin32 service registered to start at boot under
    its own virtual account, restarted on any failure, its folder closed to other users."""
    text = _paths(
        settings_text,
        WIN_HOME / "state" / "fsm-risk.db",
        WIN_HOME / "logs" / "fsm-risk.log",
        WIN_HOME / "state" / "control.sock",
    )
    text = service_settings(text, {("broker", "credentials_file"): str(WIN_HOME / "credentials")})
    home = str(WIN_HOME)
    restricted = ("/inheritance:r", "/grant:r", "*S-1-5-32-544:(OI)(CI)F", "*S-1-5-18:(OI)(CI)F")
    return Plan(
        "win32",
        [
            Step("dir", WIN_HOME, owner="Administrators"),
            Step("file", WIN_HOME / "settings.ini", text.encode(), owner="Administrators"),
            Step(
                "file",
                WIN_HOME / "credentials",
                b"username = \napi_key = \n",
                owner="Administrators",
                keep=True,
            ),
            Step(
                "run",
                argv=(str(python), "-m", "fsm_risk.winservice", "--startup", "auto", "install"),
            ),
            Step("run", argv=("sc.exe", "config", NAME, "obj=", WIN_ACCOUNT, "password=", "")),
            Step(
                "run",
                argv=(
                    "sc.exe",
                    "failure",
                    NAME,
                    "reset=",
                    "86400",
                    "actions=",
                    "restart/5000/restart/5000/restart/5000",
                ),
            ),
            Step("run", argv=("sc.exe", "failureflag", NAME, "1")),
            # administrators and SYSTEM: everything; the service: read its settings and
            # credentials, write its state and logs; everyone else: nothing
            Step("run", argv=("icacls", home, *restricted, f"{WIN_ACCOUNT}:(OI)(CI)RX")),
            Step(
                "run",
                argv=("icacls", str(WIN_HOME / "state"), "/grant", f"{WIN_ACCOUNT}:(OI)(CI)M"),
            ),
            Step(
                "run", argv=("icacls", str(WIN_HOME / "logs"), "/grant", f"{WIN_ACCOUNT}:(OI)(CI)M")
            ),
            Step("run", argv=("sc.exe", "start", NAME)),
        ],
    )


def windows_uninstall(python: str | PurePath) -> Plan:
    return Plan(
        "win32",
        [
            Step("run", argv=("sc.exe", "stop", NAME)),
            Step("run", argv=(str(python), "-m", "fsm_risk.winservice", "remove")),
            Step("note", text=f"kept {WIN_HOME} (settings, state, audit log)"),
        ],
    )


# -- choosing and carrying out a plan ---------------------------------------------------------


def executable() -> Path:
    """The fsm-risk command of this installation (beside the running Python)."""
    scripts = Path(sys.executable).parent
    for name in ("fsm-risk", "fsm-risk.exe"):
        if (scripts / name).exists():
            return (scripts / name).absolute()
    raise FsmRiskError(f"the fsm-risk command is not installed beside {sys.executable}")


PLATFORMS = ("linux", "darwin", "win32")


def install_plan(settings_text: str, platform: str = sys.platform) -> Plan:
    if platform.startswith("linux"):
        creds = Path(LINUX_ETC / "credentials.env")
        try:
            ready = credentials_ready(textfile.read(creds))
        except (OSError, textfile.NotText):
            ready = False
        plan = linux_plan(executable(), settings_text, start=ready)
        steps = plan.steps + _exposed(executable())
        return Plan(plan.platform, steps + _unanchored(settings_text, LINUX_ETC / "settings.ini"))
    if platform == "darwin":
        plan = mac_plan(executable(), settings_text)
        return Plan(
            plan.platform, plan.steps + _unanchored(settings_text, MAC_HOME / "settings.ini")
        )
    if platform == "win32":
        plan = windows_plan(sys.executable, settings_text)
        return Plan(
            plan.platform, plan.steps + _unanchored(settings_text, WIN_HOME / "settings.ini")
        )
    raise FsmRiskError(f"no service installation for platform '{platform}' (linux, darwin, win32)")


def _unanchored(settings_text: str, installed: PurePath) -> list[Step]:
    """A note when the settings hold no trust anchor for the admin secret (`fsm_risk.anchor`):
    then the database's secret is the admin's, and whoever can write the database can set it."""
    if re.search(r"^\s*secret_anchor\s*=\s*\S", settings_text, re.MULTILINE):
        return []
    return [
        Step(
            "note",
            text="no [admin] secret_anchor: anchor the admin secret in the installed settings "
            f"(fsm-risk admin anchor --settings {installed}, as admin), then restart the "
            "service; until then, whoever can write its database can set the admin secret",
        )
    ]


def _exposed(exe: Path) -> list[Step]:
    """A warning when a non-admin could change the program the service runs."""
    for p in (exe, *exe.parents):
        try:
            st = p.stat()
        except OSError:
            continue
        if st.st_uid != 0 or st.st_mode & 0o022:
            return [
                Step(
                    "note",
                    text=f"{p} can be changed by a non-admin user, and with it what the service "
                    "runs: install fsm-risk in a root-owned place (e.g. python -m venv "
                    "/opt/fsm-risk) and run that installation's fsm-risk service install",
                )
            ]
        if p == Path(p.anchor):
            break
    return []


def uninstall_plan(platform: str = sys.platform) -> Plan:
    if platform.startswith("linux"):
        return linux_uninstall()
    if platform == "darwin":
        return mac_uninstall()
    if platform == "win32":
        return windows_uninstall(sys.executable)
    raise FsmRiskError(f"no service installation for platform '{platform}' (linux, darwin, win32)")


def render(plan: Plan) -> str:
    """What ``--print`` shows: the unit (or plist) as it would be written, then every step;
    on Windows the commands for an elevated prompt."""
    steps = "\n".join(f"# {s.describe()}" for s in plan.steps)
    if plan.platform == "win32" or not any(s.kind == "file" for s in plan.steps):
        return f"# {NAME} service ({plan.platform}): run as an administrator\n{steps}\n"
    main = plan.main_file()
    return f"# {main.path}\n{main.content.decode()}\n# steps:\n{steps}\n"


def is_admin() -> bool:
    if sys.platform == "win32":
        import ctypes

        return bool(ctypes.windll.shell32.IsUserAnAdmin())  # type: ignore[attr-defined]
    import os

    return os.geteuid() == 0


Runner = Callable[[Sequence[str]], int]


def _run(argv: Sequence[str]) -> int:
    return subprocess.run(list(argv), check=False).returncode


def apply(plan: Plan, *, root: Path = Path("/"), run: Runner = _run) -> list[str]:
    """Carry a plan out; return what was done, one line each. Files go under ``root``
    (``/`` for real; a test passes a folder and a recording ``run``); ownership is only set
    for real. A failing command stops the plan with its exit code."""
    done = []
    real = root == Path("/")
    for step in plan.steps:
        if step.kind in ("file", "dir"):
            assert step.path is not None
            target = root / Path(*step.path.parts[1:]) if not real else Path(step.path)
            if step.kind == "dir":
                target.mkdir(parents=True, exist_ok=True)
            elif step.keep and target.exists():
                done.append(f"kept  {step.path} (already there)")
                continue
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(step.content)
            if plan.platform != "win32":
                target.chmod(step.mode)
                if real:
                    import shutil

                    shutil.chown(target, step.owner, step.group)
        elif step.kind == "user":
            if real and not _user_exists(step.owner):
                _check(run, _add_user(plan.platform, step.owner))
        elif step.kind == "run":
            _check(run, step.argv)
        done.append(step.describe())
    return done


def _check(run: Runner, argv: Sequence[str]) -> None:
    code = run(argv)
    if code != 0:
        raise FsmRiskError(f"'{shlex.join(argv)}' failed with exit code {code}")


def _user_exists(name: str) -> bool:
    """Whether a local account exists (Linux and macOS only: Windows uses virtual accounts)."""
    if sys.platform != "win32":
        import pwd

        try:
            pwd.getpwnam(name)
        except KeyError:
            return False
        return True
    return False


def _add_user(platform: str, name: str) -> tuple[str, ...]:
    if platform == "darwin":
        return ("sysadminctl", "-addUser", name, "-roleAccount", "-shell", "/usr/bin/false")
    return (
        "useradd", "--system", "--user-group", "--no-create-home",
        "--home-dir", str(LINUX_STATE), "--shell", "/usr/sbin/nologin", name,
    )  # fmt: skip


def linux_status(run_output: Callable[[Sequence[str]], str] | None = None) -> str:
    """One line from systemd: installed or not, enabled, active, pid, restarts."""
    read = run_output or _output
    fields = "LoadState,UnitFileState,ActiveState,SubState,MainPID,NRestarts,StatusText"
    raw = read(("systemctl", "show", NAME, "--property", fields))
    info = dict(line.split("=", 1) for line in raw.splitlines() if "=" in line)
    if not info:
        return f"{NAME}: systemd is not running here (no service manager to ask)"
    if info.get("LoadState") != "loaded":
        return f"{NAME}: not installed (sudo fsm-risk service install)"
    text = (
        f"{NAME}: installed, {info.get('UnitFileState', '?')}, "
        f"{info.get('ActiveState', '?')} ({info.get('SubState', '?')})"
    )
    if info.get("MainPID", "0") != "0":
        text += f", pid {info['MainPID']}"
    text += f", restarts {info.get('NRestarts', '0')}"
    if info.get("StatusText"):
        text += f": {info['StatusText']}"
    return text


def _output(argv: Sequence[str]) -> str:
    try:
        found = subprocess.run(list(argv), capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise FsmRiskError(f"{argv[0]} is not available here") from None
    return found.stdout


def status(platform: str = sys.platform) -> str:
    if platform.startswith("linux"):
        return linux_status()
    if platform == "darwin":
        out = _output(("launchctl", "print", f"system/{MAC_LABEL}"))
        state = re.search(r"^\s*state = (.+)$", out, re.MULTILINE)
        return f"{NAME}: " + (f"installed, {state.group(1)}" if state else "not installed")
    if platform == "win32":
        out = _output(("sc.exe", "query", NAME))
        state = re.search(r"STATE\s*:\s*\d+\s+(\w+)", out)
        return f"{NAME}: " + (f"installed, {state.group(1).lower()}" if state else "not installed")
    raise FsmRiskError(f"no service installation for platform '{platform}' (linux, darwin, win32)")
