"""Secrets never reach logs or output."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest
from loguru import logger

from fsm_risk import config, logs, runtime
from fsm_risk.adapters.broker import Credentials, ProjectXBroker, sdk_config
from fsm_risk.errors import FsmRiskError


def test_registered_secrets_and_secret_looking_values_are_masked() -> None:
    logs.register_secret("s3cr3t-api-key-value")
    assert "s3cr3t" not in logs.mask("login failed for key s3cr3t-api-key-value")
    assert logs.mask('{"apiKey": "abcdef123456"}') == '{"apiKey": "***"}'
    assert logs.mask("Authorization: Bearer eyJhbGciOi.x.y") == "Authorization: Bearer ***"
    assert logs.mask("GET /hubs/user?access_token=eyJ.a.b&id=1") == (
        "GET /hubs/user?access_token=***&id=1"
    )


def test_the_log_file_is_json_lines_and_masked(tmp_path: Path) -> None:
    path = tmp_path / "fsm.log"
    logs.setup(path, console=False)
    logs.register_secret("another-very-secret-key")
    logger.info("{} connected with another-very-secret-key", logs.GATEWAY_CONNECTED)
    logs.drain()
    text = path.read_text()
    assert '"FSM:GATEWAY_CONNECTED connected with ***' in text.replace("\\n", "")
    assert "another-very-secret-key" not in text
    logger.remove()


def test_credentials_never_print_their_key() -> None:
    c = Credentials("trader", "the-api-key-1234")
    assert "the-api-key-1234" not in repr(c) and "the-api-key-1234" not in str(c)


GATEWAY = (
    "http://trader:ApiUrlPass-SECRET@127.0.0.1:9/api",
    "http://trader:UserHubPass-SECRET@127.0.0.1:9/hubs/user",
    "http://trader:MarketHubPass-SECRET@127.0.0.1:9/hubs/market",
)


def test_a_password_in_a_gateway_url_never_reaches_the_logs() -> None:
    ProjectXBroker(sdk_config(*GATEWAY), Credentials("u", "key-0000"), lambda _: None)
    for url in GATEWAY:
        assert "SECRET" not in logs.mask(f"POST {url}/Auth/loginKey failed"), url


async def test_serve_names_the_gateway_it_watches_without_the_urls_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROJECT_X_USERNAME", "trader")
    monkeypatch.setenv("PROJECT_X_API_KEY", "key-0123456789")
    settings = config.parse(
        f"[general]\ndatabase = {tmp_path / 'state.db'}\n[broker]\napi_url = {GATEWAY[0]}\n",
        str(tmp_path / "settings.ini"),
    )

    def stop_here(*args: object, **kwargs: object) -> None:
        raise FsmRiskError("stopped before the service")

    monkeypatch.setattr(runtime, "make_service", stop_here)
    said: list[str] = []
    with pytest.raises(FsmRiskError, match="stopped before the service"):
        await runtime.serve(settings, echo=said.append)
    assert said == ["Watching the ProjectX gateway at http://trader:***@127.0.0.1:9/api as trader."]


class HeldConsole:
    """A console that takes nothing until it is let go (Ctrl-S, a pipe nobody reads)."""

    def __init__(self) -> None:
        self.go = threading.Event()
        self.lines: list[str] = []

    def write(self, text: str) -> None:
        self.go.wait()
        self.lines.append(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


def test_a_log_call_never_waits_for_a_held_console(monkeypatch: pytest.MonkeyPatch) -> None:
    console = HeldConsole()
    monkeypatch.setattr(sys, "stderr", console)
    logs.setup(None, queued=True)
    try:
        caller = threading.Thread(target=lambda: [logger.info("line {}", n) for n in range(200)])
        caller.start()
        caller.join(2.0)
        assert not caller.is_alive()  # it logged 200 lines while the console took none
        assert console.lines == []
        console.go.set()
        logs.drain()
        assert [line.split()[-1] for line in console.lines] == [str(n) for n in range(200)]
    finally:
        console.go.set()
        logger.remove()


def test_lines_past_the_limit_are_dropped_and_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    console = HeldConsole()
    monkeypatch.setattr(sys, "stderr", console)
    monkeypatch.setattr(logs, "BEHIND_LIMIT", 3)
    logs.setup(None, queued=True)
    try:
        for n in range(10):
            logger.info("line {}", n)
        console.go.set()
        logs.drain()
        [notice] = [line for line in console.lines if "dropped" in line]
        written = [int(line.split()[-1]) for line in console.lines if line != notice]
        dropped = int(notice.split()[1])  # "... N log line(s) dropped: ..."
        # the first held by the writer, three queued, the rest dropped and counted
        assert written == list(range(len(written))) and 3 <= len(written) <= 4
        assert len(written) + dropped == 10
    finally:
        console.go.set()
        logger.remove()


def test_an_exceptions_text_is_masked_in_the_log_file(tmp_path: Path) -> None:
    path = tmp_path / "fsm.log"
    logs.setup(path, console=False, queued=True)
    try:
        try:
            raise ValueError("login refused: password=hunter2-secret-value")
        except ValueError:
            logger.exception("the login failed")
        logs.drain()
        text = path.read_text()
        assert "login refused" in text and "hunter2-secret-value" not in text
    finally:
        logger.remove()


def test_a_drain_that_timed_out_does_not_wait_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """At exit the lines queued are drained (5 s at most), then the sink is removed: a console
    held up is not waited for a second time."""
    console = HeldConsole()
    monkeypatch.setattr(sys, "stderr", console)
    logs.setup(None, queued=True)
    try:
        logger.info("held")
        logs.drain(0.2)
        caller = threading.Thread(target=logs.drain)
        caller.start()
        caller.join(1.0)
        assert not caller.is_alive()
    finally:
        console.go.set()
        logger.remove()
