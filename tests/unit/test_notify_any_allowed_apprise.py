"""Found by a review of 156f80b: `apprise_send` built ``AppriseAsset(async_mode=False,
service_timeout=0)``, but ``service_timeout`` exists from apprise 2.0 on while the requirement
allowed ``apprise>=1.9``; every 1.x apprise refuses an unknown asset key (``AttributeError:
AppriseAsset init(): An invalid key service_timeout was specified``), so on such an install no
notice was ever sent (each logged "not sent"). What must hold: the requirement allows no apprise
older than the first with every asset key the sender relies on, and a notice is still sent to a
receiver that answers by an apprise whose asset lacks that key (1.x), on the calling thread."""

from __future__ import annotations

import json
import re
import threading
import tomllib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import apprise
import pytest

from fsm_risk import notify
from fsm_risk.notify import SENT, Notice

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
#: the first apprise whose asset takes ``service_timeout``
SERVICE_TIMEOUT_SINCE = (2, 0)


class Handler(BaseHTTPRequestHandler):
    got: list[str] = []

    def do_POST(self) -> None:
        title = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["title"]
        self.got.append(title)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    Handler.got = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"json://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()
        server.server_close()


def test_the_requirement_allows_no_apprise_without_the_service_timeout_key() -> None:
    needs = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    pins = [re.fullmatch(r"apprise>=(\d+)\.(\d+)(?:\.\d+)?", d.replace(" ", "")) for d in needs]
    floor = next(m for m in pins if m is not None)
    assert (int(floor[1]), int(floor[2])) >= SERVICE_TIMEOUT_SINCE
    assert hasattr(apprise.AppriseAsset, "_service_timeout")  # the installed one has it


def test_a_notice_is_sent_by_an_apprise_whose_asset_lacks_the_service_timeout_key(
    receiver: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = apprise.AppriseAsset

    def asset_1x(**options: Any) -> apprise.AppriseAsset:
        """As 1.x's asset: an unknown key refused (and no ``_service_timeout`` to look up)."""
        for key in options:
            if key != "async_mode":
                raise AttributeError(f"AppriseAsset init(): An invalid key {key} was specified.")
        return real(**options)

    monkeypatch.setattr(apprise, "AppriseAsset", asset_1x)
    outcome = notify.apprise_send(receiver, Notice("lock", "Account 1001: LockedDaily", "b"))
    assert outcome == SENT
    assert Handler.got == ["Account 1001: LockedDaily"]
