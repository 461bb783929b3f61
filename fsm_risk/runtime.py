"""`fsm-risk serve`: wire the service to a gateway and run it until SIGINT or SIGTERM.

With broker credentials (environment or a credentials file) it connects to the configured
ProjectX gateway; without, it starts the built-in paper gateway in-process and watches its
accounts, printing how to trade against it.
"""

from __future__ import annotations

import asyncio
import configparser
import contextlib
import dataclasses
import os
import signal
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click
from loguru import logger

from fsm_risk import bootstrap, logs, naming, notify, textfile
from fsm_risk.adapters.account_locks import AccountLocks
from fsm_risk.adapters.broker import (
    Credentials,
    Inbound,
    ProjectXBroker,
    RequestBudget,
    sdk_config,
)
from fsm_risk.adapters.clock import Clock, SystemClock
from fsm_risk.adapters.store import Store
from fsm_risk.config import Settings
from fsm_risk.errors import AlreadyGuarded, FsmRiskError, StartedMeanwhile
from fsm_risk.schema import without_password
from fsm_risk.service import Service

if TYPE_CHECKING:
    from fsm_risk.adapters.control import Endpoint

USERNAME_ENV, API_KEY_ENV = "PROJECT_X_USERNAME", "PROJECT_X_API_KEY"
TOPSTEPX = (
    "https://api.topstepx.com/api",
    "https://rtc.topstepx.com/hubs/user",
    "https://rtc.topstepx.com/hubs/market",
)


def credentials(settings: Settings) -> Credentials | None:
    """Broker credentials from the credentials file or the environment; None if neither."""
    file = settings.broker.credentials_file
    if file is not None:
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read_string("[c]\n" + textfile.read(file))
        except textfile.NotText as exc:
            raise FsmRiskError(f"credentials file {exc}") from None
        except (OSError, configparser.Error) as exc:
            raise FsmRiskError(
                f"credentials file {file}: cannot be read ({type(exc).__name__})"
            ) from None
        user, key = parser["c"].get("username", ""), parser["c"].get("api_key", "")
        if not user or len(key) < 10:
            raise FsmRiskError(
                f"credentials file {file}: needs 'username' and an 'api_key' of 10+ characters"
            )
        return Credentials(user, key)
    user, key = os.environ.get(USERNAME_ENV, ""), os.environ.get(API_KEY_ENV, "")
    if user and key:
        return Credentials(user, key)
    return None


def gateway_urls(settings: Settings) -> tuple[str, str, str]:
    b = settings.broker
    env = (
        os.environ.get("PROJECTX_API_URL"),
        os.environ.get("PROJECTX_USER_HUB_URL"),
        os.environ.get("PROJECTX_MARKET_HUB_URL"),
    )
    configured = (b.api_url, b.user_hub_url, b.market_hub_url)
    api, user, market = (c or e or d for c, e, d in zip(configured, env, TOPSTEPX, strict=True))
    return api, user, market


def make_service(
    settings: Settings,
    creds: Credentials,
    urls: tuple[str, str, str],
    *,
    clock: Clock | None = None,
) -> Service:
    b = settings.broker
    config = sdk_config(*urls)
    clock = clock or SystemClock()
    accounts = settings.general.accounts

    def factory(sink: Callable[[Inbound], None]) -> ProjectXBroker:
        budget = RequestBudget(b.requests_per_minute, 60.0, b.enforcement_reserve)
        return ProjectXBroker(config, creds, sink, budget=budget, now=clock.now, accounts=accounts)

    store = bootstrap.open_store(settings)
    auth = bootstrap.admin_auth(settings, store, SystemClock().now)
    service = Service(
        settings,
        factory,
        store,
        clock,
        auth=auth,
        control_path=str(settings.control_socket),
        control_options=control_options(settings),
        account_locks=AccountLocks(urls[0], store.where),
    )
    from fsm_risk import components

    components.attach(service, settings)
    return service


def control_options(settings: Settings) -> dict[str, Any]:
    """How the service's control channel listens ([control] transport, port, token_file)."""
    return {
        "transport": settings.control_transport,
        "port": settings.control.port,
        "token_file": settings.control_token_file,
    }


async def serve(
    settings: Settings,
    *,
    paper: bool = False,
    demo: bool = False,
    echo: Callable[[str], None] = click.echo,
) -> None:
    if demo:
        settings = demo_settings(settings)
    try:
        creds = None if paper or demo else credentials(settings)
        if creds is None:  # the built-in paper gateway: its hours, not CME's
            settings = dataclasses.replace(settings, on_paper=True)
        _refuse_a_second_service(settings)
    except FsmRiskError as exc:
        await _tell_gave_up(settings, exc)
        raise
    loop = asyncio.get_running_loop()
    # a stop signal at any moment, even before the service exists, is a clean stop
    stopping = asyncio.Event()
    service: Service | None = None

    def stop() -> None:
        stopping.set()
        if service is not None:
            service.stop()

    stop_on_signals(loop, stop)
    for sig in _hangup():  # a reload once the service runs; nothing to reload before
        add_signal(loop, sig, _hangup_while_starting)
    gateway = None
    try:
        if creds is None:
            gateway, creds, urls = await _paper_gateway(settings, echo)
        else:
            urls = gateway_urls(settings)
            shown = without_password(urls[0])
            echo(f"Watching the ProjectX gateway at {shown} as {creds.username}.")
        if stopping.is_set():
            return
        try:
            service = make_service(settings, creds, urls)
        except FsmRiskError as exc:
            await _tell_gave_up(settings, exc)
            raise
        if demo:
            service.adjust = demo_settings
        on_sighup(loop, service)
        try:
            await _run(service, settings, gateway, demo, echo)
        finally:
            service.store.close()
    finally:
        stop_on_signals(loop, None)
        for sig in _hangup():
            remove_signal(loop, sig)
        if gateway is not None:
            await gateway.stop()
        logger.info("{} stopped", logs.SERVICE_STOP)


async def _tell_gave_up(settings: Settings, exc: FsmRiskError) -> None:
    """A start given up before its service ran (its database cannot be opened, another
    service holds it): told to the settings' notify URLs, once per `notify.TOLD_AGAIN`
    (the service's notifier, and the database its told mark is in, are not there yet)."""
    why, guarded = logs.mask(str(exc) or repr(exc)), isinstance(exc, AlreadyGuarded)
    try:
        await asyncio.to_thread(notify.tell_start_failed, settings, why, guarded=guarded)
    except Exception as failed:  # (the start's own failure is what the caller raises)
        logger.error("{} start failure not notified: {!r}", logs.ALERT, failed)


def _hangup_while_starting() -> None:
    logger.warning("{} SIGHUP before the service is ready: ignored", logs.ALERT)


async def _paper_gateway(
    settings: Settings, echo: Callable[[str], None]
) -> tuple[Any, Credentials, tuple[str, str, str]]:
    from fsm_risk.paper import PaperGateway
    from fsm_risk.paper.cli import banner

    gateway = PaperGateway(settings.paper)
    try:
        await gateway.start(settings.paper.host, settings.paper.port)
    except OSError as exc:
        raise FsmRiskError(
            f"cannot start the paper gateway on {settings.paper.host}:{settings.paper.port}: "
            f"{exc.strerror or exc} (another program holds the port; set [paper] port, "
            "0 picks a free one)"
        ) from None
    user, key = gateway.credentials()
    urls = (gateway.api_url, gateway.user_hub_url, gateway.market_hub_url)
    echo("No broker credentials configured: watching the built-in paper gateway.\n")
    echo(banner(gateway))
    echo("")
    return gateway, Credentials(user, key), urls


async def _run(
    service: Service, settings: Settings, gateway: Any, demo: bool, echo: Callable[[str], None]
) -> None:
    runner = asyncio.ensure_future(service.run())
    ready = asyncio.ensure_future(service.serving.wait())
    try:
        await asyncio.wait({runner, ready}, return_when=asyncio.FIRST_COMPLETED)
        if service.serving.is_set():
            echo(trading_hours_text(service, demo=demo))
        if service.serving.is_set() and gateway is not None:
            echo(try_it_text(service.account_ids[0], gateway.control_url))
        waiting = len(set(service.account_ids) - service.known)
        if service.serving.is_set() and waiting:
            echo(
                f"{waiting} account(s) still being reconciled with the gateway: each enforces "
                "once its own is done, the exposed ones first (fsm-risk status shows which)."
            )
        if service.serving.is_set():
            echo(
                f"fsm-risk is enforcing {len(service.engine.rules)} rule(s) on account(s) "
                f"{', '.join(map(str, service.account_ids))}.\n"
                f"  status:   fsm-risk status --settings {settings.path}\n"
                f"  history:  fsm-risk history --settings {settings.path}\n"
                f"  logs:     {settings.log_file}  (grep FSM: for checkpoints)\n"
                + "".join(
                    f"  dashboard: {url}  (metrics: {url}metrics)\n"
                    for url in (getattr(c, "url", None) for c in service.components)
                    if url
                )
                + "Stop with Ctrl-C."
            )
        if service.serving.is_set() and waiting:
            everyone = asyncio.ensure_future(service.ready.wait())
            await asyncio.wait({runner, everyone}, return_when=asyncio.FIRST_COMPLETED)
            everyone.cancel()
            if service.ready.is_set():
                echo(f"Every account is reconciled: all {len(service.account_ids)} enforcing.")
        await runner
    finally:
        ready.cancel()


def try_it_text(account_id: int, control: str) -> str:
    """What to try against the built-in paper gateway (a test runs every line of it)."""
    return (
        "Try it: trade as the trader would, and watch fsm-risk react (`fsm-risk status`):\n"
        f"  curl -s -X POST {control}/orders -d "
        f'\'{{"account_id": {account_id}, "contract": "MNQ", "side": "buy", "size": 8}}\''
        "   # more than max_contracts: the excess is closed\n"
        f"  curl -s -X POST {control}/price -d "
        '\'{"contract": "MNQ", "ticks": -800}\'   # the 3 MNQ left lose $1,200, past '
        "the daily loss limit: flattened and LockedDaily\n"
    )


#: the signals that stop the service cleanly, at any moment (SIGHUP reloads, see on_sighup)
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def stop_on_signals(loop: asyncio.AbstractEventLoop, stop: Callable[[], None] | None) -> None:
    """Route the stop signals to ``stop`` (None: give them back)."""
    for sig in STOP_SIGNALS:
        if stop is None:
            remove_signal(loop, sig)
        else:
            add_signal(loop, sig, stop)


def _socket_answers(settings: Settings) -> bool:
    """Whether a service listens on the configured control socket: a second sign that one
    runs, for when the database at the path is no longer the file it holds (deleted or
    replaced under it). A socket left by a crash refuses the connection."""
    import socket

    from fsm_risk.adapters.control import unix_sockets

    if settings.control_transport == "tcp" or not unix_sockets():
        return False
    path = settings.control_socket
    if not path.exists():
        return False
    with socket.socket(socket.AF_UNIX) as probe:
        probe.settimeout(2)
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True


def _refuse_a_second_service(settings: Settings) -> None:
    """Before anything binds a port: one service per SQLite database; on a shared server, one
    service per account (a service for other accounts starts beside it; one whose accounts
    are named only by the gateway is leased, or refused, once the gateway lists them)."""
    store = bootstrap.open_store(settings)
    try:
        if store.shared:
            held = store.leased(monitored(settings, store) or [])
            refusal = store.lease_refusal(held[0]) if held else None
        elif store.service_running() or _socket_answers(settings):
            refusal = f"another fsm-risk service is already running on {settings.database}"
        else:
            refusal = None
    finally:
        store.close()
    if refusal is not None:
        raise AlreadyGuarded(refusal)


def monitored(settings: Settings, store: Store) -> list[int] | None:
    """The ids of the accounts ``[general] accounts`` names (a name as the database knows
    it; one it does not know yet is left out); None: every active account."""
    wanted = [a.strip() for a in settings.general.accounts if a.strip()]
    if not wanted:
        return None
    names = store.account_names()
    found = set()
    for text in wanted:
        if text.isdigit():
            found.add(int(text))
            continue
        with contextlib.suppress(FsmRiskError):
            found.add(naming.account_id(text, names))
    return sorted(found)


def refuse_held(store: Store, settings: Settings, account: str | None, busy: str) -> None:
    """Before a change made through the database (no service of this settings file answers):
    refused with ``busy`` while a service holds the SQLite database; on a shared server,
    refused while another service holds ``account`` (it alone changes that account; an
    account no service holds goes through the database, as with no service), and with
    ``busy`` when no account is named while this settings file's service runs."""
    if not store.shared:
        if store.service_running():
            raise FsmRiskError(busy)
        return
    if account is None:
        if store.leased(monitored(settings, store) or []):
            raise FsmRiskError(busy)
        return  # it picks the only account no service holds (`bootstrap.offline_accounts`)
    try:
        account_id = naming.account_id(account, store.account_names())
    except FsmRiskError:
        return  # an unknown account: the change's own refusal names the choices
    if store.service_running([account_id]):
        raise FsmRiskError(
            f"{store.lease_refusal(account_id)}: that service alone changes it; run the "
            "command with its settings file where it runs (nothing changed)"
        )


#: how long a change made while a service was starting waits for that service's control
#: channel (its login and its first reads come first), in seconds
STARTED_WAIT = 60.0


def change_offline(
    store: Store, settings: Settings, account: str | None, change: Callable[[], str]
) -> str | None:
    """After `refuse_held` and the secret's check (which may wait on failed tries): make
    ``change`` through the database and return its answer, or None, nothing changed, when a
    service took the database (SQLite; held from here to the commit: `Store.held_for_change`)
    or on a shared server the account (its lease) meanwhile: the caller sends the change to
    that service (`send_to_started`), so what a person asked is what is in force."""
    if store.shared:
        try:
            refuse_held(store, settings, account, "a service started meanwhile")
        except FsmRiskError:
            return None
    try:  # (on a server: the leases of the accounts no service holds, to the commit)
        with store.held_for_change(
            "a service started meanwhile", bootstrap.offline_accounts(store) or ()
        ):
            return change()
    except StartedMeanwhile:
        return None


def send_to_started(
    settings: Settings, route: str, body: dict[str, Any], wait: float = STARTED_WAIT
) -> str:
    """A change `change_offline` found a service started for: sent to this settings file's
    service once its control channel answers (within ``wait`` seconds), its answer returned;
    refused, nothing changed, when none answers by then."""
    import time

    from fsm_risk.adapters import control_client

    deadline = time.monotonic() + wait
    while True:
        where = control_path(settings)
        if where is not None:
            with contextlib.suppress(control_client.Unreachable):
                return str(control_client.request(where, "POST", route, body)["result"])
        if time.monotonic() >= deadline:
            raise FsmRiskError(
                f"a service started on {without_password(str(settings.database))} while the "
                f"change was being made, and its control channel did not answer within "
                f"{wait:g} s: nothing changed; run the command again"
            )
        time.sleep(0.5)


def demo_settings(settings: Settings) -> Settings:
    """The settings for ``serve --demo``: the paper gateway, every rule as configured except
    the trading hours, and no flat time for the paper platform (it would flatten and block
    every account from 15:10 to 17:00 Chicago), so the demo behaves the same at any hour.
    Never for a real account."""
    from fsm_risk import config
    from fsm_risk.rules.trading_hours import TradingHours

    settings = config.with_rule_off(settings, TradingHours)
    if settings.paper is not None:
        settings = dataclasses.replace(
            settings, paper=dataclasses.replace(settings.paper, flat_time=None)
        )
    return settings


def trading_hours_text(service: Service, *, demo: bool = False) -> str:
    """What the trading hours allow right now, said plainly at start."""
    from fsm_risk import status

    now = service.clock.now()
    snap = {"at": now.isoformat(), "timezone": service.settings.display_timezone}
    snap["hours"] = status.snapshot(service.engine, now, [])["hours"]
    words = status.headline_hours(snap)
    if demo and not words:
        return (
            "Demo (--demo): trading hours are NOT enforced (by fsm-risk, nor by the paper "
            "platform's own flat time), so the demo runs at any hour; the shipped settings "
            "enforce the CME hours on a real account.\n"
        )
    if demo:  # the settings in force on this database enforce them: a loosening waits
        left = status.human((service.engine.calendar.next_daily_reset(now) - now).total_seconds())
        return (
            f"Demo (--demo): the trading hours are still enforced until the daily reset (in "
            f"{left}): the settings in force on this database enforce them, and a looser "
            f"setting takes effect at the reset. Trading hours: {words}.\n"
        )
    if not words:
        return "Trading hours: not enforced (the trading_hours rule is off).\n"
    if snap["hours"]["open"]:
        return f"Trading hours: open now; {words}.\n"
    return (
        f"Trading hours: {words}. Until then any position is closed and the account locked; "
        "to try the demo now, run `fsm-risk serve --demo` (paper gateway, hours off).\n"
    )


def _hangup() -> tuple[signal.Signals, ...]:
    sig = getattr(signal, "SIGHUP", None)  # absent on Windows
    return () if sig is None else (sig,)


def on_sighup(loop: asyncio.AbstractEventLoop, service: Service) -> None:
    """SIGHUP re-reads the settings file, as `fsm-risk reload` does (stricter at once, looser
    at the next daily reset; an invalid file changes nothing and is logged)."""
    tasks: set[asyncio.Task[str]] = set()

    async def reload() -> str:
        try:
            return await service.reload("system:SIGHUP")
        except FsmRiskError as exc:
            logger.error("{} SIGHUP: {}", logs.ALERT, exc)
            return str(exc)

    def handler() -> None:
        if not service.serving.is_set():
            logger.warning("{} SIGHUP before the service is ready: ignored", logs.ALERT)
            return
        task = asyncio.ensure_future(reload())
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    for sig in _hangup():
        add_signal(loop, sig, handler)


def add_signal(loop: asyncio.AbstractEventLoop, sig: int, callback: Callable[[], None]) -> None:
    """``loop.add_signal_handler``, or (Windows' event loop has none) a plain handler that
    hands the callback to the loop."""
    try:
        loop.add_signal_handler(sig, callback)
    except NotImplementedError:
        signal.signal(sig, lambda *_: loop.call_soon_threadsafe(callback))


def remove_signal(loop: asyncio.AbstractEventLoop, sig: int) -> None:
    try:
        loop.remove_signal_handler(sig)
    except NotImplementedError:
        signal.signal(sig, signal.SIG_DFL)


def control_path(settings: Settings) -> Endpoint | None:
    """The running service's control channel, or None when no service holds the database."""
    from fsm_risk.adapters.control import Endpoint, port_key, read_token

    if _socket_answers(settings):  # a service listens: no need to open the database, which
        return Endpoint(path=settings.control_socket)  # may be what fails (down, locked)
    store = bootstrap.open_store(settings)
    try:  # on a shared server: this settings file's service (its accounts' leases, its port)
        running = store.service_running(monitored(settings, store))
        port = store.meta(port_key(naming.group(settings.general.accounts, store.shared)))
    finally:
        store.close()
    if not running and not _socket_answers(settings):
        return None
    if settings.control_transport == "tcp":
        if port is None:
            return None
        return Endpoint(port=int(port), token=read_token(settings.control_token_file))
    path = settings.control_socket
    return Endpoint(path=path) if path.exists() else None
