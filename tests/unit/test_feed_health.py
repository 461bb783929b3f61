"""Feed health as `status` shows it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fsm_risk.adapters.broker import FeedHealth
from fsm_risk.status import render

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)


def test_a_silent_contract_and_a_down_hub_make_the_feed_degraded() -> None:
    h = FeedHealth(user_connected={1001: True}, market_connected=True)
    h.since["start"] = NOW - timedelta(minutes=5)
    h.last_quote["CON.F.US.MNQ.Z26"] = NOW - timedelta(seconds=10)
    h.last_quote["CON.F.US.ES.Z26"] = NOW - timedelta(seconds=45)
    snap = h.snapshot(NOW, timedelta(seconds=30), {"CON.F.US.MNQ.Z26", "CON.F.US.ES.Z26"})
    assert snap["silent_contracts"] == ["CON.F.US.ES.Z26"] and not snap["healthy"]
    h.user_connected[1001] = False
    snap = h.snapshot(NOW, timedelta(seconds=30), {"CON.F.US.MNQ.Z26"})
    assert not snap["healthy"] and snap["user_hub"] == {"1001": False}
    text = render(
        {
            "timezone": "America/Chicago",
            "next_daily_reset": NOW.isoformat(),
            "next_weekly_reset": NOW.isoformat(),
            "accounts": [],
            "feed": {**snap, "events": 3},
        },
        color=False,
        source="running service",
    )
    assert text.startswith("no account")  # nothing monitored yet: the feed line waits


def test_a_healthy_feed() -> None:
    h = FeedHealth(user_connected={1001: True}, market_connected=True)
    h.last_quote["X"] = NOW
    assert h.snapshot(NOW, timedelta(seconds=30), {"X"})["healthy"]
