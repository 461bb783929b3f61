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
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from fsm_risk import naming, textfile
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
    for line in config.unknown_roots(settings):
        click.echo(f"# note: {line}")
    enabled = ", ".join(f"{r.rule.id} {r.rule.name}" for r in settings.enabled_rules())
    click.echo(f"# OK: {len(list(settings.enabled_rules()))} rules enabled ({enabled})")


# --- diagram --------------------------------------------------------------------------------


@main.command()
@click.option(
    "--out", default=None, help="folder to write into [default: diagrams, or . with --account]"
)
@click.option("--account", default=None, help="draw this account (id or name) from the database")
@click.option(
    "--day", default=None, metavar="YYYY-MM-DD", help="with --account: trading day [default: today]"
)
@settings_option
def diagram(
    out: str | None, account: str | None, day: str | None, settings_file: str | None
) -> None:
    """Regenerate the state diagrams, or draw one account's day from the audit log."""
    from fsm_risk import bootstrap, diagrams

    settings = bootstrap.load_settings(settings_file)  # checked like every command's
    if account is None:
        if day is not None:
            raise FsmRiskError("--day needs --account (the overview has no day)")
        for line in diagrams.write(Path(out or "diagrams")):
            click.echo(line)
        return
    calendar = settings.calendar()
    if day is None:
        the_day = calendar.trading_day(_now())
    else:
        try:
            the_day = datetime.strptime(day, "%Y-%m-%d").date()  # noqa: DTZ007 (a date)
        except ValueError:
            raise FsmRiskError(f"--day '{day}' is not a date (YYYY-MM-DD)") from None
    store = bootstrap.open_store(settings)
    try:
        stored = {s.account_id: s for s in store.accounts()}
        names = [(i, str(s.snapshot["name"] or "")) for i, s in stored.items()]
        account_id = naming.account_id(account, names, where=" in the database")
        entries = [e for e in store.audit(account_id) if calendar.trading_day(e.at) == the_day]
    finally:
        store.close()
    files = diagrams.account_files(
        account_id,
        the_day,
        stored[account_id].state,
        entries,
        diagrams.settings_legend(settings),
    )
    for line in diagrams.write_account(Path(out or "."), files):
        click.echo(line)
    notes = sum(1 for e in entries if e.trigger == diagrams.SETTINGS)  # state kept
    steps = sum(1 for e in entries if e.contract_id is None) - notes
    click.echo(
        f"account {account_id} is {stored[account_id].state.value}; {steps} account transitions"
        f"{f', {notes} settings changes' if notes else ''}"
        f" and {len(entries) - steps - notes} contract transitions on {the_day.isoformat()}"
    )


# --- status and history -----------------------------------------------------------------------


def _resolve(engine_accounts: dict[int, Any], account: str | None) -> list[int] | None:
    if account is None:
        return None
    names = [(i, a.name) for i, a in engine_accounts.items()]
    return [naming.account_id(account, names, where=" in the database")]


def _service(settings_file: str | None) -> Any:
    """Where the running service's control channel listens, or None when there is none. A
    Unix socket is found from the settings file alone (no database, no web stack); a loopback
    TCP channel's port is in the database."""
    from fsm_risk.adapters import control_client

    path = control_client.socket_path(control_client.settings_path(settings_file))
    if path is not None:
        return path if path.exists() else None
    from fsm_risk import bootstrap, runtime

    return runtime.control_path(bootstrap.load_settings(settings_file))


def _settings_or_service(
    settings_file: str | None, find: Callable[[config.Settings], Any]
) -> tuple[config.Settings | None, Any]:
    """The settings and the running service's control channel (None: none runs). A file the
    loader refuses still reaches a running service through its socket (settings None; it
    says so on stderr): a lock or an admin's override must not wait for a typo in an
    unrelated section to be fixed (the service runs on what it loaded). ``find``: the
    command's own way to the running service from valid settings."""
    from fsm_risk import bootstrap

    try:
        settings = bootstrap.load_settings(settings_file)
    except SettingsError as exc:
        socket = _service(settings_file)
        if socket is None:
            raise
        problems = "; ".join(str(p) for p in exc.problems)
        click.echo(f"warning: {problems} (the running service was asked all the same)", err=True)
        return None, socket
    return settings, find(settings)


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
        snap = status.snapshot(engine, _now(), ids, tz=settings.display_timezone)
        from fsm_risk import reload

        _, pending, _ = reload.resolve(settings, store, _now())  # what a start would hold
        snap["pending_settings"] = pending.view() if pending is not None else None
        # a service holds the database yet does not answer: starting (its login, its first
        # reads), or hung; not "no service"
        # (on a shared server: a service of this settings file's accounts, not any other's)
        from fsm_risk.runtime import monitored

        ours = ids or (monitored(settings, store) if store.shared else None)
        snap["service_unanswering"] = store.service_running(ours or None)
        lost, unchecked = _lost_notes(store), _lost_pending(store)
        from fsm_risk.core.lost import TAKEN_OVER_KEY, lost_view, read_take_over

        take = read_take_over(store.meta(TAKEN_OVER_KEY)) if lost else None
        anchored = settings.admin.secret_anchor is not None
        for a in snap["accounts"]:
            note = lost.get(a["account_id"])
            a["lost_state"] = lost_view(note, take, anchored) if note is not None else None
            a["lost_check_pending"] = a["account_id"] in unchecked
        snap["state_lost"] = [a["account_id"] for a in snap["accounts"] if a["lost_state"]]
        return snap, False
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
        # the running service's own answer, /readyz's (`Service.verdict`); none: nothing is
        snap["enforcing"] = live and snap.get("enforcing") is True
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
            names = [(s.account_id, str(s.snapshot["name"] or "")) for s in store.accounts()]
            account_id = naming.account_id(account, names, where=" in the database")
        entries = store.audit(account_id, limit)
    finally:
        store.close()
    return {"timezone": settings.display_timezone, "entries": status.audit_rows(entries)}


# --- admin ----------------------------------------------------------------------------------


def _read_secret(secret_file: str | None, prompt: str, confirm: bool = False) -> str | None:
    if secret_file:
        try:
            return textfile.read(secret_file).strip()
        except OSError as exc:
            raise FsmRiskError(f"cannot read the secret file: {exc.strerror}") from None
    env = os.environ.get(SECRET_ENV)
    if env:
        return env
    if sys.stdin.isatty():
        value: str = click.prompt(prompt, hide_input=True, confirmation_prompt=confirm)
        return value
    return None


def _lost_notes(store: Any, every: bool = False) -> dict[int, Any]:
    """The database's notes of accounts started with no stored state although they traded
    this week, still shown (`fsm_risk.core.lost`; ``every``: however old), by account (an
    unreadable one: None)."""
    import json

    from fsm_risk.core.lost import META_PREFIX, LostState, shown

    out: dict[int, Any] = {}
    for key in store.meta_keys(META_PREFIX):
        try:
            note = LostState.from_dict(json.loads(store.meta(key) or ""))
        except (ValueError, KeyError, TypeError):
            out[-len(out) - 1] = None  # refused all the same: it cannot be read
            continue
        if every or shown(note, _now()):
            out[note.account_id] = note
    return out


def _lost_pending(store: Any) -> set[int]:
    """The accounts stored with no state whose check (`fsm_risk.core.lost`) is not decided
    yet: no start has read their trades this week (-1: an unreadable one)."""
    from fsm_risk.core.lost import PENDING_PREFIX

    out: set[int] = set()
    for key in store.meta_keys(PENDING_PREFIX):
        try:
            out.add(int(key[len(PENDING_PREFIX) :]))
        except ValueError:
            out.add(-1)
    return out


def _lost_states(store: Any) -> list[str]:
    """`_lost_notes`, however old (the state before them is lost for good), and the checks
    still pending, as short texts: for the refusal of a first admin secret."""
    return [
        "an unreadable lost-state note"
        if note is None
        else f"account {note.account_id} started on it with no stored state although the "
        f"gateway listed {note.trades} trade(s) that week (its database was lost or replaced)"
        for note in _lost_notes(store, every=True).values()
    ] + [
        f"account {a} was stored on it with no state and no start has read its trades this "
        "week yet (the check for a lost or replaced database is pending: run 'fsm-risk serve' "
        "until its trades are read)"
        for a in sorted(_lost_pending(store))
    ]


@main.group()
def admin() -> None:
    """Manage the admin credential."""


@admin.command("set-secret")
@click.option("--secret-file", metavar="FILE", help="read the new secret from this file")
@click.option("--current-file", metavar="FILE", help="read the current secret from this file")
@click.option(
    "--take-over",
    is_flag=True,
    help="set the first secret of a database whose accounts started with no stored state "
    "although they traded this week (a lost or replaced database)",
)
@settings_option
def set_secret(
    secret_file: str | None, current_file: str | None, take_over: bool, settings_file: str | None
) -> None:
    """Store the admin secret (only a salted scrypt hash is kept)."""
    from fsm_risk import bootstrap, logs

    settings = bootstrap.load_settings(settings_file)
    logs.setup(settings.log_file, console=False)
    store = bootstrap.open_store(settings)
    try:
        auth = bootstrap.admin_auth(settings, store, _now)
        if auth.anchor is not None:
            from fsm_risk.adapters.auth import ANCHORED

            raise AuthError(f"refused: {ANCHORED}")
        untrusted = auth.untrusted
        if untrusted is not None and not take_over:
            raise AuthError(f"refused: {untrusted}; run 'fsm-risk admin set-secret --take-over'")
        lost = [] if auth.configured and untrusted is None else _lost_states(store)
        if lost and not take_over:
            raise AuthError(
                f"refused: this database has no admin secret and {lost[0]}; whoever sets the "
                "first secret here can end any lock. If you are the admin, check the account "
                "at the gateway and run 'fsm-risk admin set-secret --take-over'"
            )
        current = None
        if auth.configured and untrusted is None:
            current = (
                textfile.read(current_file).strip()
                if current_file
                else os.environ.get("FSM_RISK_CURRENT_ADMIN_SECRET")
                or _read_secret(None, "Current admin secret")
            )
        new = _read_secret(secret_file, "New admin secret", confirm=True)
        if not new:
            raise AuthError(f"no secret given (use --secret-file, ${SECRET_ENV} or a terminal)")
        logs.register_secret(new)
        auth.set_secret(new, current, getpass.getuser(), take_over=take_over)
        told = None
        if lost or untrusted is not None:
            told = _took_over(
                settings, store, untrusted is not None, [*lost, *([untrusted] if untrusted else [])]
            )
    finally:
        store.close()
    click.echo("admin secret stored (salted scrypt hash)")
    if told is not None:
        click.echo(told[0])
        for line in told[1:]:
            click.echo(f"warning: {line}", err=True)


def _took_over(settings: config.Settings, store: Any, replaced: bool, why: list[str]) -> list[str]:
    """A take-over of the admin secret done (`fsm_risk.core.lost.TakeOver`): logged CRITICAL,
    kept, written to the audit log of every account the database holds and sent to the
    notification URLs taking admin events (a command's own: the control channel needs the
    secret a take-over replaces). Returns what to print: what was done, then what failed."""
    from loguru import logger

    from fsm_risk import logs, notify
    from fsm_risk.adapters.auth import admin_name
    from fsm_risk.adapters.store import StorageFailed
    from fsm_risk.core.lost import TAKEN_OVER_KEY, TakeOver, take_over_audit
    from fsm_risk.core.work import Changes

    who, _ = admin_name(getpass.getuser())
    take = TakeOver(_now(), who, replaced, "; ".join(why))
    logger.critical("{} {} by {}", logs.ALERT, take.text, who)
    states = store.account_states()
    out: list[str] = []
    try:
        meta = {TAKEN_OVER_KEY: json.dumps(take.to_dict())}
        store.commit(Changes([], [], meta=meta), take_over_audit(take, states))
        out.append(f"take-over recorded in the audit log of {len(states)} account(s)")
    except StorageFailed as exc:
        out.append("the take-over is NOT in the audit log (the secret is stored)")
        out.append(f"the take-over could not be written to the audit log: {exc}")
    title = f"fsm-risk: admin secret taken over by {who}"
    accounts = ", ".join(str(a) for a, _ in states) or "none yet"
    body = (
        f"The admin secret was {'replaced' if replaced else 'first set'} with --take-over by "
        f"{who} at {notify.local_time(take.at, settings.display_timezone)} on the database "
        f"{store.where} (accounts: {accounts}), whose state was lost: {take.why}. If the "
        "admin did not do this, whoever did can end any lock: check at once."
    )
    sent, failed = notify.send_now(settings, notify.Notice("admin", title, body, None, "warning"))
    out[0] += (
        f"; notified {len(sent)} URL(s)"
        if sent or failed
        else "; no notification URL takes admin events"
    )
    out.extend(f"the take-over notice was not sent to {where}" for where in failed)
    return out


@admin.command("anchor")
@click.option("--secret-file", metavar="FILE", help="read the admin secret from this file")
@click.option(
    "--remove",
    is_flag=True,
    help="take the anchor out of the settings and unmark the database (the anchored secret "
    "is asked for); then set the database's secret with 'admin set-secret'",
)
@settings_option
def anchor(secret_file: str | None, remove: bool, settings_file: str | None) -> None:
    """Anchor the admin secret in the settings file: write its salted scrypt hash there as
    [admin] secret_anchor. From then on only a secret matching it is the admin's, whatever
    the database holds. Run it as the file's owner (root, after 'fsm-risk service install')
    and restart the service."""
    from fsm_risk import bootstrap, config, logs
    from fsm_risk.adapters.auth import MIN_SECRET_LENGTH
    from fsm_risk.anchor import Anchor
    from fsm_risk.install import service_settings

    settings = bootstrap.load_settings(settings_file)  # a file refused is not written to
    path = settings.path
    if remove:
        _unanchor(settings, secret_file)
        return
    new = _read_secret(secret_file, "Admin secret", confirm=True)
    if not new:
        raise AuthError(f"no secret given (use --secret-file, ${SECRET_ENV} or a terminal)")
    logs.register_secret(new)
    if len(new) < MIN_SECRET_LENGTH:
        raise AuthError(f"the admin secret must be at least {MIN_SECRET_LENGTH} characters")
    before = textfile.read(path)
    value = Anchor.of(new).text
    logs.register_secret(value)
    try:
        path.write_text(service_settings(before, {("admin", "secret_anchor"): value}), "utf-8")
    except OSError as exc:
        raise FsmRiskError(f"cannot write {path}: {exc.strerror}") from None
    try:
        config.load(path)
    except SettingsError:  # (cannot be: the file was valid, and so is the value)
        path.write_text(before, encoding="utf-8")
        raise
    click.echo(
        f"admin secret anchored in {path} ([admin] secret_anchor, a salted scrypt hash); "
        "restart the service for it to take effect"
    )


def _unanchor(settings: config.Settings, secret_file: str | None) -> None:
    """`admin anchor --remove`: checked against the anchor (rate-limited as any check), the
    key emptied in the settings and the database's mark taken off, so that settings without
    an anchor are no longer refused on it. The database then holds no admin secret."""
    from fsm_risk import bootstrap, logs
    from fsm_risk.adapters.auth import ANCHORED_KEY
    from fsm_risk.install import service_settings

    if settings.admin.secret_anchor is None:
        raise AuthError(f"{settings.path} holds no [admin] secret_anchor: nothing to remove")
    logs.setup(settings.log_file, console=False)
    secret = _read_secret(secret_file, "Anchored admin secret")
    if not secret:
        raise AuthError(f"no secret given (use --secret-file, ${SECRET_ENV} or a terminal)")
    logs.register_secret(secret)
    store = bootstrap.open_store(settings)
    try:
        bootstrap.admin_auth(settings, store, _now).check(secret, getpass.getuser())
        path = settings.path
        text = textfile.read(path)
        try:
            path.write_text(service_settings(text, {("admin", "secret_anchor"): ""}), "utf-8")
        except OSError as exc:
            raise FsmRiskError(f"cannot write {path}: {exc.strerror}") from None
        store.set_meta(ANCHORED_KEY, None)
    finally:
        store.close()
    click.echo(
        f"anchor removed from {path} and the database unmarked; set the admin secret now "
        "('fsm-risk admin set-secret') and restart the service"
    )


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
    if contract is not None and not contract.strip():
        # (an unset shell variable): never taken for the whole account
        raise FsmRiskError("--contract is empty: give a symbol root or a full contract id")
    kind = "contract" if contract else "account"
    try:
        target = state_named(to, kind=kind)
    except ValueError as exc:
        raise FsmRiskError(str(exc)) from None
    from fsm_risk import bootstrap, logs, runtime
    from fsm_risk.adapters import control_client

    settings, socket = _settings_or_service(settings_file, lambda _: _service(settings_file))
    if settings is not None:
        logs.setup(settings.log_file, console=False)
    who = admin_name or getpass.getuser()
    from fsm_risk.adapters.auth import admin_name as _checked

    who, problem = _checked(who)
    if problem:
        raise FsmRiskError(problem.replace("'admin'", "--admin"))
    secret = _read_secret(secret_file, "Admin secret")
    logs.register_secret(secret)
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
    if socket is not None:
        try:
            click.echo(control_client.request(socket, "POST", "/transition", body)["result"])
            return
        except control_client.Unreachable:
            if settings is None:
                raise FsmRiskError(
                    "the service does not answer, and the settings file is refused"
                ) from None
            # a crash's leftover socket: the database, if no service holds it
    assert settings is not None
    store = bootstrap.open_store(settings)
    try:
        auth = bootstrap.admin_auth(settings, store, _now)
        runtime.refuse_held(
            store,
            settings,
            account,
            "the service is running but does not answer on its control socket "
            f"{settings.control_socket} yet: it is starting (logging in to the gateway, which "
            "it keeps trying while the gateway is in trouble, then reading it) or hung; "
            "nothing changed: try again once `fsm-risk status` says it is enforcing",
        )
        auth.check(secret, who)
        result = runtime.change_offline(
            store,
            settings,
            account,
            lambda: _transition_offline(
                settings, store, account, contract, target, reason, minutes, who, not no_waiver
            ),
        )
    finally:
        store.close()
    if result is None:  # a service started while the secret was checked: it makes the change
        result = runtime.send_to_started(settings, "/transition", body)
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
    from fsm_risk.core.admin import force
    from fsm_risk.core.effects import BrokerEffect
    from fsm_risk.core.events import AdminCommand

    now = _now()
    engine, effects, journal = bootstrap.offline_engine(settings, store, now)
    [account_id] = _resolve(engine.accounts, account) or [0]
    cmd = AdminCommand(account_id, target, reason.strip(), who, contract, minutes, waive)
    forced = force(engine, cmd, now)  # the service's path too
    effects.extend(forced.effects)
    bootstrap.commit_offline(store, engine, journal, cmd, effects, now)
    text = forced.text
    pending = [e for e in forced.effects if isinstance(e, BrokerEffect)]
    if pending:
        text += (
            f"\n  {len(pending)} close/cancel/resize request(s) will be sent when the service "
            "starts"
        )
    return text


# --- reload and lock -------------------------------------------------------------------------


@main.command()
@click.option("--admin", "admin_name", default=None, help="who you are (default: your login)")
@click.option(
    "--secret-file", metavar="FILE", help=f"read the admin secret here (or ${SECRET_ENV})"
)
@settings_option
def reload(admin_name: str | None, secret_file: str | None, settings_file: str | None) -> None:
    """Re-read settings.ini in the running service. Admin only; audited.

    Stricter values apply at once; looser ones (a higher limit, a rule turned off, a wider
    window) wait for the next daily reset, and a restart does not bring them sooner. An
    invalid file changes nothing. SIGHUP to the service does the same."""
    from fsm_risk import bootstrap, logs, runtime
    from fsm_risk.adapters import control

    try:
        settings = bootstrap.load_settings(settings_file)
    except SettingsError as exc:
        for p in exc.problems:
            click.echo(f"error: {p}", err=True)
        raise FsmRiskError("settings not reloaded, nothing changed") from None
    who = admin_name or getpass.getuser()
    secret = _read_secret(secret_file, "Admin secret")
    logs.register_secret(secret)
    socket = runtime.control_path(settings)
    if socket is None:
        raise FsmRiskError(
            "no running service to reload: `fsm-risk serve` reads the settings at start-up "
            "the same way (stricter values at once, looser ones at the next daily reset)"
        )
    # the service re-reads its own file: it refuses a reload asked with another one
    body = {"admin": who, "secret": secret, "settings": str(settings.path.resolve())}
    click.echo(control.request(socket, "POST", "/reload", body)["result"])


@main.command()
@click.argument("account", required=False)
@click.option("--until", "until", metavar="TIME", help="lock until HH:MM or a date and time")
@click.option("--for", "for_", metavar="DURATION", help="lock for a duration: 90m, 2h, 1d")
@click.option("--rest-of-day", is_flag=True, help="lock until the next daily reset")
@click.option("--reason", default="", help="why (recorded in the audit log)")
@settings_option
def lock(
    account: str | None,
    until: str | None,
    for_: str | None,
    rest_of_day: bool,
    reason: str,
    settings_file: str | None,
) -> None:
    """Lock your own account: open positions are closed and trading stops until then.

    No secret needed: anyone may add a lock, only the admin removes one. A lock never
    shortens or weakens one already held. Times without an offset are in the session's
    time zone ([session] timezone)."""
    from fsm_risk import bootstrap, runtime, selflock
    from fsm_risk.adapters import control

    spec = selflock.Spec(until, for_, rest_of_day)
    spec.check()
    settings, socket = _settings_or_service(settings_file, runtime.control_path)
    body = {"account": account, "who": getpass.getuser(), "reason": reason, **spec.to_json()}
    if socket is not None:
        click.echo(control.request(socket, "POST", "/lock", body)["result"])
        return
    assert settings is not None
    store = bootstrap.open_store(settings)
    try:
        runtime.refuse_held(
            store, settings, account, "the service is running but its control channel is missing"
        )
        text = runtime.change_offline(
            store, settings, account, lambda: selflock.offline(settings, store, body, _now())
        )
    finally:
        store.close()
    if text is None:  # a service started meanwhile: it makes the lock
        text = runtime.send_to_started(settings, "/lock", body)
    click.echo(text)


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
    import gc

    gc.disable()  # loading makes next to no garbage: collections would only walk the modules
    try:
        from fsm_risk import bootstrap, logs, runtime

        settings = bootstrap.load_settings(settings_file)
        logs.setup(settings.log_file, queued=True)
        # what is loaded so far lives as long as the service: no collection need walk it again
        gc.freeze()
    finally:
        gc.enable()
    asyncio.run(runtime.serve(settings, paper=paper, demo=demo, echo=logs.printer()))


# --- replay ---------------------------------------------------------------------------------


@main.command()
@click.argument("account", required=False)
@click.option(
    "--from",
    "first",
    required=True,
    type=click.DateTime(["%Y-%m-%d"]),
    metavar="DATE",
    help="first trading day (YYYY-MM-DD)",
)
@click.option(
    "--to",
    "last",
    type=click.DateTime(["%Y-%m-%d"]),
    metavar="DATE",
    help="last trading day (default: the --from day)",
)
@click.option(
    "--source",
    type=click.Choice(["journal", "gateway"]),
    default="journal",
    show_default=True,
    help="the service's journal, or the gateway's own history (trades, orders, bars)",
)
@click.option("--compare", metavar="OTHER.ini", help="also replay under these settings, beside")
@click.option("--json", "as_json", is_flag=True, help="JSON lines: firings, then one per day")
@click.option("--chart", metavar="FILE", help="write a PNG: equity with and without enforcement")
@click.option("--explain", metavar="HH:MM", help="explain the transition nearest this time")
@settings_option
def replay(
    account: str | None,
    first: datetime,
    last: datetime | None,
    source: str,
    compare: str | None,
    as_json: bool,
    chart: str | None,
    explain: str | None,
    settings_file: str | None,
) -> None:
    """What the rules would have done: the engine over a recorded day (or the gateway's
    history) under these settings, with the P&L made and the P&L had they enforced."""
    import re
    from zoneinfo import ZoneInfo

    from fsm_risk import bootstrap, config, replay_output, replay_sources

    settings = bootstrap.load_settings(settings_file)
    others = [(str(settings.path.name), settings)]
    if compare is not None:
        other = config.load(compare)
        others.append((Path(compare).name, other))
    if len(others) > 1 and others[0][0] == others[1][0]:
        others = [(str(settings.path), settings), (str(Path(compare or "")), others[1][1])]
    cal = settings.calendar()
    tz = ZoneInfo(cal.tz)
    try:
        start, end = replay_sources.window(cal, first.date(), last.date() if last else None)
    except OverflowError:
        raise FsmRiskError("--from/--to: a date out of range") from None
    end = min(end, _now())  # a day not over yet is replayed up to now, never into the future
    if end <= start:
        raise FsmRiskError(f"--from {first:%Y-%m-%d}: that trading day has not begun yet")
    explain_at = None
    if explain is not None:
        m = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", explain.strip())
        if m is None:
            raise click.BadParameter(f"'{explain}' is not a time HH:MM", param_hint="--explain")
        explain_at = datetime.combine(
            first.date(), datetime.min.time().replace(hour=int(m[1]), minute=int(m[2])), tz
        )
    if source == "gateway":
        plans = replay_sources.gateway_plans(settings, account, start, end)
    else:
        if settings.database_missing:
            raise FsmRiskError(
                f"no database at {settings.database}: `fsm-risk serve` journals what it sees "
                "there, or replay the gateway's history with --source gateway"
            )
        store = bootstrap.open_store(settings)
        try:
            plans = replay_sources.journal_plans(store, account, start, end)
        finally:
            store.close()
    header = (
        f"replay {first:%Y-%m-%d}"
        + (f" .. {last:%Y-%m-%d}" if last else "")
        + f" from the {source}; times in {cal.tz}"
    )
    for plan in plans:
        runs = [
            (label, replay_sources.run(s, plan, curve=chart is not None, explain_at=explain_at))
            for label, s in others
        ]
        who = (
            f"account {plan.account_id} ({plan.name})"
            if plan.name
            else f"account {plan.account_id}"
        )
        if explain_at is not None:
            click.echo(replay_output.explanation(runs[0][1], tz, explain_at), nl=False)
        elif as_json:
            click.echo(replay_output.json_lines(runs), nl=False)
        else:
            click.echo(replay_output.table(runs, tz, f"{header}: {who}"), nl=False)
        if chart is not None:
            path = Path(chart)
            if len(plans) > 1:
                path = path.with_name(f"{path.stem}-{plan.account_id}{path.suffix}")
            replay_output.chart(runs, path, tz, f"{who}: {header}")
            if not as_json:
                click.echo(f"chart written to {path}")


main.add_command(paper_gateway)


@main.group()
def service() -> None:
    """Run fsm-risk as a system service the trader cannot stop (systemd, launchd, Windows)."""


@service.command("install")
@click.option("--print", "show", is_flag=True, help="print the unit and the steps; change nothing")
@click.option(
    "--platform",
    type=click.Choice(["linux", "darwin", "win32"]),
    default=None,
    help="with --print: show another platform's service (default: this one)",
)
@settings_option
def service_install(show: bool, platform: str | None, settings_file: str | None) -> None:
    """Install and start the service with these settings (validated first; needs an admin)."""
    from fsm_risk import bootstrap, install

    if platform and not show:
        raise FsmRiskError("--platform works only with --print (install on the machine itself)")
    settings = bootstrap.load_settings(settings_file)
    text = textfile.read(settings.path)
    plan = install.install_plan(text, platform or sys.platform)
    if show:
        click.echo(install.render(plan), nl=False)
        return
    if not install.is_admin():
        raise FsmRiskError("installing the service needs an administrator (sudo fsm-risk ...)")
    for line in install.apply(plan):
        click.echo(line)


@service.command("uninstall")
@click.option("--print", "show", is_flag=True, help="print the steps; change nothing")
def service_uninstall(show: bool) -> None:
    """Stop and remove the service (settings, state and audit log are kept)."""
    from fsm_risk import install

    plan = install.uninstall_plan()
    if show:
        click.echo(install.render(plan), nl=False)
        return
    if not install.is_admin():
        raise FsmRiskError("removing the service needs an administrator (sudo fsm-risk ...)")
    for line in install.apply(plan):
        click.echo(line)


@service.command("status")
def service_status() -> None:
    """Whether the service is installed, enabled and running (from the service manager)."""
    from fsm_risk import install

    click.echo(install.status())
