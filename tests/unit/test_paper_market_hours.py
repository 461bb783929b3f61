"""`serve` on the built-in paper gateway takes the market's hours from that gateway, not CME's.

Seen: `serve --demo` on a Sunday morning (the paper gateway filling every order, its
`maintenance_break` empty) took a refused close for "the market is closed" and scheduled it for
Sunday 17:00 Chicago, ten hours on, with the position open and a one-minute self-lock kept as a
block until then.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from fsm_risk import config, runtime
from fsm_risk.errors import FsmRiskError

SUNDAY_MORNING = datetime(2026, 12, 6, 12, 5, tzinfo=UTC)  # 06:05 Chicago
SUNDAY_OPEN = datetime(2026, 12, 6, 23, 0, tzinfo=UTC)  # 17:00 Chicago


def _settings(tmp_path: Path, paper: str = "") -> config.Settings:
    text = (
        f"[general]\ndatabase = {tmp_path / 'state.db'}\n"
        f"[control]\nsocket = {tmp_path / 'ctl.sock'}\n"
        f"[paper]\nport = 0\n{paper}"
    )
    return config.parse(text, str(tmp_path / "settings.ini"))


async def _served(
    settings: config.Settings, monkeypatch: pytest.MonkeyPatch, **how: bool
) -> config.Settings:
    """The settings `serve` builds its service from (it stops right there)."""
    monkeypatch.delenv("PROJECT_X_USERNAME", raising=False)
    monkeypatch.delenv("PROJECT_X_API_KEY", raising=False)
    seen: list[config.Settings] = []

    def stop_here(settings: config.Settings, *args: object, **kwargs: object) -> None:
        seen.append(settings)
        raise FsmRiskError("stopped before the service")

    monkeypatch.setattr(runtime, "make_service", stop_here)
    with pytest.raises(FsmRiskError, match="stopped before the service"):
        await runtime.serve(settings, echo=lambda _: None, **how)
    return seen[0]


def test_a_real_gateway_is_watched_by_cme_hours(tmp_path: Path) -> None:
    market = _settings(tmp_path).engine_settings().market
    assert market is not None and market.reopen(SUNDAY_MORNING) == SUNDAY_OPEN


@pytest.mark.parametrize("how", [{}, {"paper": True}, {"demo": True}])
async def test_the_paper_gateway_with_no_break_is_never_closed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: dict[str, bool]
) -> None:
    served = await _served(_settings(tmp_path), monkeypatch, **how)
    es = served.engine_settings()
    assert es.market is None and es.reopen(SUNDAY_MORNING) is None


async def test_the_paper_gateway_with_a_break_keeps_its_own_hours(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(tmp_path, "maintenance_break = 16:00-17:00\n")
    es = (await _served(settings, monkeypatch, paper=True)).engine_settings()
    assert es.reopen(SUNDAY_MORNING) == SUNDAY_OPEN
    tuesday_noon = datetime(2026, 12, 8, 18, 0, tzinfo=UTC)
    assert es.reopen(tuesday_noon) is None
