"""``fsm-risk paper-gateway``: the paper gateway on its own, for demos and any ProjectX client."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from fsm_risk.errors import SettingsError
from fsm_risk.paper.settings import PaperSettings, is_loopback, load_paper_settings

if TYPE_CHECKING:  # the gateway (and its web stack) is imported only when it is started
    from fsm_risk.paper.gateway import PaperGateway

DEFAULT_SETTINGS = Path("settings.ini")
SETTINGS_ENV = "FSM_RISK_SETTINGS"


@click.command("paper-gateway")
@click.option("--host", default=None, help="Loopback address to listen on [default: 127.0.0.1].")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=None,
    help="TCP port; 0 picks a free one [default: the [paper] port, 8740].",
)
@click.option(
    "--settings",
    "settings_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Settings file whose [paper] section to use "
    f"[default: ${SETTINGS_ENV}, else ./settings.ini if present].",
)
def paper_gateway(host: str | None, port: int | None, settings_path: Path | None) -> None:
    """Run the paper gateway: a local ProjectX-compatible simulator (REST + SignalR hubs).

    Any ProjectX client, project-x-py included, can log in and trade against it with play
    money. It prints the environment variables a client needs and how to drive it through its
    control API, and stops cleanly on Ctrl-C or SIGTERM.
    """
    try:
        settings = _settings(settings_path)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    host = host or settings.host
    port = settings.port if port is None else port
    if not is_loopback(host):
        raise click.ClickException(
            f"refusing to listen on {host}: the paper gateway serves loopback addresses only"
        )
    try:
        asyncio.run(_serve(settings, host, port))
    except OSError as exc:
        raise click.ClickException(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}"
        ) from None


def _settings(path: Path | None) -> PaperSettings:
    if path is None and os.environ.get(SETTINGS_ENV):
        path = Path(os.environ[SETTINGS_ENV])
    if path is not None:
        return load_paper_settings(path)
    if DEFAULT_SETTINGS.exists():
        return load_paper_settings(DEFAULT_SETTINGS)
    return PaperSettings()


async def _serve(settings: PaperSettings, host: str, port: int) -> None:
    from fsm_risk.paper.gateway import PaperGateway

    gateway = PaperGateway(settings)
    await gateway.start(host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        click.echo(banner(gateway))
        sys.stdout.flush()
        await stop.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        await gateway.stop()
    click.echo("paper gateway stopped")


def banner(gateway: PaperGateway) -> str:
    """What the command prints once listening: client environment and control API usage."""
    s = gateway.settings
    env = gateway.env(requests_per_minute=s.rate_limit or 100_000)
    if s.api_key:
        env["PROJECT_X_API_KEY"] = "<the api_key of your [paper] section>"
    key_note = "" if s.api_key else "  # any key of 10 or more characters works"
    control = gateway.control_url
    lines = [
        f"fsm-risk paper gateway listening on {gateway.base_url}",
        f"  prices: {gateway.price_mode}"
        + (f" (seed {s.seed})" if gateway.price_mode == "random_walk" else ""),
        "  accounts: "
        + ", ".join(
            f"{a.id} {a.name} ${a.balance:,.2f}" + ("" if a.can_trade else " (cannot trade)")
            for a in gateway.accounts()
        ),
        "",
        "Point a ProjectX client at it (project-x-py reads these URLs through",
        "project_x_py.config.load_default_config(); pass that config to ProjectX and",
        "ProjectXRealtimeClient):",
    ]
    for key, value in env.items():
        lines.append(f"  export {key}={value}" + (key_note if key == "PROJECT_X_API_KEY" else ""))
    lines += [
        "",
        f"Control API (loopback, no token; GET {control} lists it):",
        f"  curl -s {control}/state",
        f"  curl -s {control}/orders",
        f'  curl -s -X POST {control}/price -d \'{{"contract": "MNQ", "price": 21010.25}}\'',
        f'  curl -s -X POST {control}/price -d \'{{"contract": "MNQ", "ticks": -8}}\'',
        f'  curl -s -X POST {control}/price_mode -d \'{{"mode": "scripted"}}\'',
        f"  curl -s -X POST {control}/accounts/{s.accounts[0].id} -d '{{\"can_trade\": false}}'",
        f"  curl -s -X POST {control}/faults/drop",
        f'  curl -s -X POST {control}/faults/reject -d \'{{"count": 1, "message": "no"}}\'',
        f"  curl -s -X POST {control}/faults/fill_delay -d '{{\"seconds\": 2}}'",
        "",
        "Stop with Ctrl-C or SIGTERM.",
    ]
    return "\n".join(lines)
