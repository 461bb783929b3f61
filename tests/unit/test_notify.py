"""The notifier's own arithmetic: the rate limit, and one warning per threshold per period."""

from __future__ import annotations

import asyncio
from typing import Any

from fsm_risk import config
from fsm_risk.notify import Notifier


def notifier(extra: str = "", **kw: Any) -> Notifier:
    return Notifier(config.parse(f"[notify]\nurls = json://127.0.0.1:9/x\n{extra}"), **kw)


def account(fraction: float, day: str = "2026-11-23", week: str = "2026-11-23") -> dict[str, Any]:
    rule = {
        "id": "RULE-003",
        "name": "daily_loss_limit",
        "value": "-410.00",
        "limit": "-500",
        "unit": "$",
        "fraction": fraction,
        "detail": "equity",
    }
    return {
        "account_id": 1001,
        "name": "PAPER-1",
        "rules": [rule],
        "day": {"label": day},
        "week": {"label": week},
    }


def titles(n: Notifier) -> list[str]:
    out = []
    while not n.queue.empty():
        out.append(n.queue.get_nowait().title)
    return out


def test_each_threshold_warns_once_per_day_and_again_the_next_day() -> None:
    n = notifier()
    for f in (0.3, 0.52, 0.55, 0.49, 0.51, 0.81, 0.79, 0.82):
        n._warn_usage(account(f))
    assert titles(n) == [
        "Account 1001: 50% of daily_loss_limit",
        "Account 1001: 80% of daily_loss_limit",
    ]
    n._warn_usage(account(0.95))  # straight past 90: the highest reached, once
    n._warn_usage(account(0.97))
    assert titles(n) == ["Account 1001: 90% of daily_loss_limit"]
    n._warn_usage(account(0.85, day="2026-11-24"))  # a new trading day
    assert titles(n) == ["Account 1001: 80% of daily_loss_limit"]


def test_thresholds_come_from_the_settings() -> None:
    n = notifier("warn_at = 25, 75\n")
    n._warn_usage(account(0.3))
    n._warn_usage(account(0.6))
    assert titles(n) == ["Account 1001: 25% of daily_loss_limit"]


async def test_the_rate_limit_holds_a_send_until_its_minute_has_passed() -> None:
    now = [100.0]
    n = notifier("per_minute = 2\n", monotonic=lambda: now[0])
    await n._rate_limit()
    await n._rate_limit()
    third = asyncio.ensure_future(n._rate_limit())
    await asyncio.sleep(0)  # let it run up to its wait
    assert not third.done()
    now[0] = 160.0  # the first send is a minute old
    await asyncio.wait_for(third, 5)
