"""``fsm-risk paper-gateway`` runs standalone, prints what a client needs, stops on a signal."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from fsm_risk.cli import main

pytestmark = pytest.mark.e2e

LAUNCH = "from fsm_risk.cli import main; main()"


async def _read_until(stream: asyncio.StreamReader, marker: str, timeout: float) -> list[str]:
    lines: list[str] = []
    async with asyncio.timeout(timeout):
        while not lines or marker not in lines[-1]:
            line = await stream.readline()
            if not line:
                raise AssertionError("the command ended early:\n" + "".join(lines))
            lines.append(line.decode())
    return lines


@pytest.mark.parametrize("stop_with", [signal.SIGINT, signal.SIGTERM])
async def test_standalone_gateway_prints_the_client_environment_and_stops_on_a_signal(
    tmp_path: Path, stop_with: signal.Signals
) -> None:
    settings = tmp_path / "settings.ini"
    settings.write_text("[paper]\nprice_mode = scripted\naccounts = 42: DEMO: 1000: true\n")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", LAUNCH, "paper-gateway", "--port", "0", "--settings", str(settings),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        lines = await _read_until(process.stdout, "Stop with", timeout=20)
        text = "".join(lines)
        env = dict(
            line.strip().removeprefix("export ").split("  #")[0].split("=", 1)
            for line in lines
            if line.strip().startswith("export ")
        )
        assert set(env) >= {
            "PROJECTX_API_URL",
            "PROJECTX_USER_HUB_URL",
            "PROJECTX_MARKET_HUB_URL",
            "PROJECT_X_USERNAME",
            "PROJECT_X_API_KEY",
        }
        assert env["PROJECTX_API_URL"].startswith("http://127.0.0.1:")
        assert env["PROJECTX_API_URL"].endswith("/api")
        assert "42 DEMO $1,000.00" in text and "/_paper" in text
        async with httpx.AsyncClient() as http:
            ping = await http.get(env["PROJECTX_API_URL"] + "/Status/ping")
            login = await http.post(
                env["PROJECTX_API_URL"] + "/Auth/loginKey",
                json={"userName": env["PROJECT_X_USERNAME"], "apiKey": env["PROJECT_X_API_KEY"]},
            )
        assert ping.json() == "pong" and login.json()["success"] is True
        process.send_signal(stop_with)
        async with asyncio.timeout(10):
            rest = await process.stdout.read()
            code = await process.wait()
        assert code == 0 and b"paper gateway stopped" in rest
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


def test_a_non_loopback_host_is_refused() -> None:
    result = CliRunner().invoke(main, ["paper-gateway", "--host", "0.0.0.0", "--port", "0"])
    assert result.exit_code != 0 and "loopback" in result.output


def test_a_bad_paper_section_is_reported_by_file_section_and_key(tmp_path: Path) -> None:
    settings = tmp_path / "bad.ini"
    settings.write_text("[paper]\nspread_ticks = wide\n")
    result = CliRunner().invoke(main, ["paper-gateway", "--settings", str(settings)])
    assert result.exit_code != 0
    assert f"{settings}: [paper] spread_ticks: must be a whole number" in result.output


def test_a_missing_settings_file_is_an_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["paper-gateway", "--settings", str(tmp_path / "no.ini")])
    assert result.exit_code != 0 and "file not found" in result.output
