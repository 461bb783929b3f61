"""The `fsm-risk` command line: thin commands that parse, wire, delegate and report.

Domain errors become one clear line on stderr and a non-zero exit; never a traceback.

Every command imports what it needs inside its own body: `--help` loads click alone, and
`status` and `history` against a running service load no SDK, web framework, dataframe
library or database layer (a test checks the import graph).
"""

from __future__ import annotations

import getpass
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from fsm_risk.adapters.control_client import SETTINGS_ENV as SETTINGS_FILE_ENV
from fsm_risk.core.states import ACCOUNT_STATES, state_named
from fsm_risk.errors import AuthError, FsmRiskError, SettingsError
from fsm_risk.paper.cli import paper_gateway

if TYPE_CHECKING:
    from fsm_risk import config

SECRET_ENV = "FSM_RISK_ADMIN_SECRET"
EXIT_ERROR = 2


def _now() -> datetime:
    return datetime.now(UTC)


class Group(click.Group):
    """Turns every error into one line and a non-zero exit."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SettingsError as exc:
            for p in exc.problems:
                click.echo(f"error: {p}", err=True)
            sys.exit(EXIT_ERROR)
        except FsmRiskError as exc:
            click.echo(f"error: {_mask(str(exc))}", err=True)
            sys.exit(EXIT_ERROR)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException, SystemExit):
            raise
        except KeyboardInterrupt:
            sys.exit(130)
        except Exception as exc:  # the last line of defence: still one line, no traceback
            click.echo(f"error: unexpected {type(exc).__name__}: {_mask(str(exc))}", err=True)
            sys.exit(1)


def _mask(text: str) -> str:
    from fsm_risk import logs

    return logs.mask(text)


settings_option = click.option(
    "--settings",
    "settings_file",
    metavar="FILE",
    default=None,
    help=f"settings file (default: ${SETTINGS_FILE_ENV} or ./settings.ini)",
)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="fsm-risk")
def main() -> None:
    """fsm-risk: a real-time risk guardian for ProjectX futures accounts."""


# --- check ----------------------------------------------------------------------------------


@main.command()
@settings_option
def check(settings_file: str | None) -> None:
    """Validate settings.ini and print the effective configuration."""
    from fsm_risk import bootstrap, config

    settings = bootstrap.load_settings(settings_file)
    click.echo(config.describe(settings), nl=False)
    enabled = ", ".join(f"{r.rule.id} {r.rule.name}" for r in settings.enabled_rules())
    click.echo(f"# OK: {len(list(settings.enabled_rules()))} rules enabled ({enabled})")


# --- diagram --------------------------------------------------------------------------------


@main.command()
@click.option("--out", default="diagrams", show_default=True, help="folder to write into")
@settings_option
def diagram(out: str, settings_file: str | None) -> None:
    """Regenerate the state diagrams from the machine definitions (the settings are checked
    like every command's; the machines do not depend on them)."""
    from fsm_risk import bootstrap, diagrams

    bootstrap.load_settings(settings_file)

    for line in diagrams.write(Path(out)):
        click.echo(line)


# --- status and history -----------------------------------------------------------------------


def _resolve(engine_accounts: dict[int, Any], account: str | None) -> list[int] | None:
    if account is None:
        return None
    for i, a in engine_accounts.items():
        if account == str(i) or account == a.name:
            return [i]
    raise FsmRiskError(f"unknown account '{account}' (not in the database)")


def _service(settings_file: str | None) -> Path | None:
    """The control socket of the running service, or None when no service answers on it."""
    from fsm_risk.adapters import control_client

    path = control_client.socket_path(control_client.settings_path(settings_file))
    return path if path.exists() else None


def _snapshot(settings_file: str | None, account: str | None) -> tuple[dict[str, Any], bool]:
    """The trader's view as data, and whether a running service gave it (else the database)."""
    from fsm_risk import status
    from fsm_risk.adapters import control_client

    socket = _service(settings_file)
    if socket is not None:
        route = "/status" + (f"?account={account}" if account else "")
        try:
            return control_client.request(socket, "GET", route), True
        except control_client.Unreachable:
            pass  # a crash's leftover socket: read the database
    from fsm_risk import bootstrap

    settings = bootstrap.load_settings(settings_file)
    store = bootstrap.open_store(settings)
    try:
        engine, _ = bootstrap.restored_engine(settings, store, _now())
        ids = _resolve(engine.accounts, account)
        return status.snapshot(engine, _now(), ids, tz=settings.display_timezone), False
    finally:
        store.close()


def _status_text(settings_file: str | None, account: str | None, color: bool) -> str:
    from fsm_risk import status

    snap, live = _snapshot(settings_file, account)
    return status.render(snap, color=color, source="running service" if live else "database")


@main.command()
@click.argument("account", required=False)
@click.option("--watch", is_flag=True, help="refresh in place until Ctrl-C")
@click.option(
    "--interval",
    default=1.0,
    show_default=True,
    type=click.FloatRange(0, 3600),
    help="seconds between refreshes",
)
@click.option("--iterations", default=0, hidden=True, help="stop after N refreshes (0: never)")
@click.option("--json", "as_json", is_flag=True, help="print the view as one JSON object")
@settings_option
def status(
    account: str | None,
    watch: bool,
    interval: float,
    iterations: int,
    as_json: bool,
    settings_file: str | None,
) -> None:
    """The trader's view: state, locks, P&L, rule usage, positions, resets. Read-only."""
    if as_json:
        snap, live = _snapshot(settings_file, account)
        snap["source"] = "running service" if live else "database"
        snap["enforcing"] = live
        click.echo(json.dumps(snap))
        return
    color = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    if not watch:
        click.echo(_status_text(settings_file, account, color), nl=False)
        return
    # loaded now, so that the refresh after the service goes away is as quick as the others
    from fsm_risk import bootstrap  # noqa: F401

    n = 0
    while True:
        text = _status_text(settings_file, account, color)
        if sys.stdout.isatty():
            click.clear()
        click.echo(text, nl=False)
        n += 1
        if iterations and n >= iterations:
            return
        time.sleep(interval)


@main.command()
@click.argument("account", required=False)
@click.option("--limit", default=50, show_default=True, help="most recent entries to show")
@click.option("--json", "as_json", is_flag=True, help="print JSON lines")
@settings_option
def history(account: str | None, limit: int, as_json: bool, settings_file: str | None) -> None:
    """The audit log of transitions."""
    from fsm_risk import status
    from fsm_risk.adapters import control_client

    data = None
    socket = _service(settings_file)
    if socket is not None:
        route = f"/history?limit={limit}" + (f"&account={account}" if account else "")
        try:
            data = control_client.request(socket, "GET", route)
        except control_client.Unreachable:
            data = None  # a crash's leftover socket: read the database
    if data is None:
        data = _history_offline(settings_file, account, limit)
    rows, tz = data["entries"], data["timezone"]
    if as_json:
        for row in rows:
            click.echo(json.dumps(row))
        return
    click.echo(status.render_history(rows, tz), nl=False)


def _history_offline(settings_file: str | None, account: str | None, limit: int) -> dict[str, Any]:
    from fsm_risk import bootstrap, status

    settings = bootstrap.load_settings(settings_file)
    store = bootstrap.open_store(settings)
    try:
        account_id = None
        if account is not None:
            stored = {s.account_id: s for s in store.accounts()}
            match = [i for i, s in stored.items() if account in (str(i), s.snapshot["name"])]
            if not match:
                raise FsmRiskError(f"unknown account '{account}' (not in the database)")
            account_id = match[0]
        entries = store.audit(account_id, limit)
    finally:
        store.close()
    return {"timezone": settings.display_timezone, "entries": status.audit_rows(entries)}


# --- admin ----------------------------------------------------------------------------------


def _read_secret(secret_file: str | None, prompt: str, confirm: bool = False) -> str | None:
    if secret_file:
        try:
            return Path(secret_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise FsmRiskError(f"cannot read the secret file: {exc.strerror}") from None
    env = os.environ.get(SECRET_ENV)
    if env:
        return env
    if sys.stdin.isatty():
        value: str = click.prompt(prompt, hide_input=True, confirmation_prompt=confirm)
        return value
    return None


@main.group()
def admin() -> None:
    """Manage the admin credential."""


@admin.command("set-secret")
@click.option("--secret-file", metavar="FILE", help="read the new secret from this file")
@click.option("--current-file", metavar="FILE", help="read the current secret from this file")
@settings_option
def set_secret(
    secret_file: str | None, current_file: str | None, settings_file: str | None
) -> None:
    """Store the admin secret (only a salted scrypt hash is kept)."""
    from fsm_risk import bootstrap, logs

    settings = bootstrap.load_settings(settings_file)
    logs.setup(settings.log_file, console=False)
    store = bootstrap.open_store(settings)
    try:
        auth = bootstrap.admin_auth(settings, store, _now)
        current = None
        if auth.configured:
            current = (
                Path(current_file).read_text(encoding="utf-8").strip()
                if current_file
                else os.environ.get("FSM_RISK_CURRENT_ADMIN_SECRET")
                or _read_secret(None, "Current admin secret")
            )
        new = _read_secret(secret_file, "New admin secret", confirm=True)
        if not new:
            raise AuthError(f"no secret given (use --secret-file, ${SECRET_ENV} or a terminal)")
        logs.register_secret(new)
        auth.set_secret(new, current, getpass.getuser())
    finally:
        store.close()
    click.echo("admin secret stored (salted scrypt hash)")


# --- transition -----------------------------------------------------------------------------


def _state_choice() -> click.Choice[str]:
    return click.Choice([s.value for s in ACCOUNT_STATES], case_sensitive=False)


@main.command()
@click.argument("account")
@click.option(
    "--contract",
    default=None,
    help="force a contract instead: a symbol root (MNQ: every MNQ contract, held now or "
    "opened later) or a full id (CON.F.US.MNQ.Z26)",
)
@click.option("--to", "to", required=True, type=_state_choice(), help="the state to force")
@click.option("--reason", required=True, help="why (recorded in the audit log)")
@click.option("--minutes", type=click.IntRange(1, 10080), help="length of a forced Cooldown")
@click.option(
    "--no-waiver",
    is_flag=True,
    help="grant no waiver: the rules whose locks this clears fire again as soon as they hold "
    "(default: each is waived until its lock would have ended, and a loss rule re-arms "
    "deeper, see [admin] waiver_rearm)",
)
@click.option("--admin", "admin_name", default=None, help="who you are (default: your login)")
@click.option(
    "--secret-file", metavar="FILE", help=f"read the admin secret here (or ${SECRET_ENV})"
)
@settings_option
def transition(
    account: str,
    contract: str | None,
    to: str,
    reason: str,
    minutes: int | None,
    no_waiver: bool,
    admin_name: str | None,
    secret_file: str | None,
    settings_file: str | None,
) -> None:
    """Force an account (or one contract) into a state. Admin only; audited."""
    if not reason.strip():
        raise FsmRiskError("--reason must not be empty")
    kind = "contract" if contract else "account"
    try:
        target = state_named(to, kind=kind)
    except ValueError as exc:
        raise FsmRiskError(str(exc)) from None
    from fsm_risk import bootstrap, logs
    from fsm_risk.adapters import control_client

    settings = bootstrap.load_settings(settings_file)
    logs.setup(settings.log_file, console=False)
    who = admin_name or getpass.getuser()
    secret = _read_secret(secret_file, "Admin secret")
    logs.register_secret(secret)
    socket = _service(settings_file)
    if socket is not None:
        body = {
            "account": account,
            "contract": contract,
            "to": target.value,
            "reason": reason,
            "minutes": minutes,
            "waive": not no_waiver,
            "admin": who,
            "secret": secret,
        }
        try:
            click.echo(control_client.request(socket, "POST", "/transition", body)["result"])
            return
        except control_client.Unreachable:
            pass  # a crash's leftover socket: the database, if no service holds it
    store = bootstrap.open_store(settings)
    try:
        auth = bootstrap.admin_auth(settings, store, _now)
        if store.service_running():
            raise FsmRiskError(
                "the service is running but does not answer on its control socket "
                f"{settings.control_socket}"
            )
        auth.check(secret, who)
        result = _transition_offline(
            settings, store, account, contract, target, reason, minutes, who, not no_waiver
        )
    finally:
        store.close()
    click.echo(result)


def _transition_offline(
    settings: config.Settings,
    store: Any,
    account: str,
    contract: str | None,
    target: Any,
    reason: str,
    minutes: int | None,
    who: str,
    waive: bool,
) -> str:
    from fsm_risk import bootstrap
    from fsm_risk.core.admin import summary
    from fsm_risk.core.effects import CancelOrder, ClosePosition, RecordTransition, ReducePosition
    from fsm_risk.core.events import AdminCommand

    now = _now()
    engine, effects = bootstrap.restored_engine(settings, store, now)
    [account_id] = _resolve(engine.accounts, account) or [0]
    cmd = AdminCommand(account_id, target, reason.strip(), who, contract, minutes, waive)
    out = engine.handle(cmd, now)
    effects.extend(out)
    audit = [e.entry for e in effects if isinstance(e, RecordTransition)]
    store.commit(engine.take_changes(), audit)
    text = summary(engine, cmd, out)
    pending = [e for e in out if isinstance(e, ClosePosition | ReducePosition | CancelOrder)]
    if pending:
        text += f"\n  {len(pending)} close/cancel request(s) will be sent when the service starts"
    return text


@main.command()
@click.option("--paper", is_flag=True, help="use the built-in paper gateway even with credentials")
@click.option(
    "--demo",
    is_flag=True,
    help="a demo at any hour: the built-in paper gateway, every rule but the trading hours",
)
@settings_option
def serve(paper: bool, demo: bool, settings_file: str | None) -> None:
    """Run the service: watch the accounts and enforce every enabled rule."""
    import asyncio

    from fsm_risk import bootstrap, logs, runtime

    settings = bootstrap.load_settings(settings_file)
    logs.setup(settings.log_file)
    asyncio.run(runtime.serve(settings, paper=paper, demo=demo))


main.add_command(paper_gateway)
