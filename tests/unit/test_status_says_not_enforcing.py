"""The running service's text view says NOT ENFORCING whenever its own answer (the
``service`` checks, /readyz's, `Service.verdict`) is not ready, whatever check failed.

Found by a hunt: with a record kind blind or the database refusing writes, /readyz answered
503 while `status` headed nothing (the feed line said DEGRADED at the bottom, or "enforcing
from memory") and every account said ready.
"""

from __future__ import annotations

from typing import Any

import pytest

from fsm_risk import bootstrap, config, status
from fsm_risk.core.events import AccountUpdate
from tests.factories import ACC, T0, D, Driver
from tests.unit.test_status_render import ROOT

#: /readyz's checks (`Service.verdict`), and one it may grow
CHECKS = (
    "connected",
    "authenticated",
    "feed_complete",
    "state_saved",
    "reconciled",
    "closes_confirmed",
    "cancels_confirmed",
    "reads_answered",
    "enforcing",
    "named_monitored",
    "a_check_added_later",
)


def live(failed: str | None) -> dict[str, Any]:
    """A running service's view, every account ready, ``failed`` its one failed check (with
    what the service shows beside it, as `Service.status` builds it)."""
    d = Driver(bootstrap.build_engine(config.load(ROOT / "settings.ini")), now=T0)
    d.send(AccountUpdate(ACC, "PRAC-V2-1001", D("50000"), True))
    snap = status.snapshot(d.engine, T0)
    checks = {name: name != failed for name in CHECKS}
    snap["service"] = {"ready": failed is None, **checks}
    snap["enforcing"] = failed is None
    snap["readiness"] = {"ready": 1, "reconciled": 1, "accounts": 1, "authenticated": True}
    snap["feed"] = {
        "healthy": failed not in ("connected", "feed_complete", "reads_answered"),
        "user_hub": {str(ACC): failed != "connected"},
        "market_hub": True,
        "silent_contracts": [],
        "blind": ["position"] if failed == "feed_complete" else [],
        "reads_failing": {},
        "events": 3,
        "malformed_payloads": 0,
    }
    snap["storage"] = {"saved": True, "since": None, "reason": None}
    if failed == "state_saved":
        snap["storage"] = {"saved": False, "since": T0.isoformat(), "reason": "disk full"}
    if failed == "authenticated":
        snap["readiness"]["authenticated"] = False
    return snap


@pytest.mark.parametrize("failed", CHECKS)
def test_any_failed_check_heads_the_text_as_not_enforcing(failed: str) -> None:
    out = status.render(live(failed), color=False, source="running service")
    head = next(line for line in out.splitlines() if not line.startswith(" "))
    assert "NOT ENFORCING" in head, out
    assert "enforcing from memory" not in out


def test_none_failed_says_nothing_of_it() -> None:
    out = status.render(live(None), color=False, source="running service")
    assert "NOT ENFORCING" not in out and "STARTING" not in out


def test_blind_says_which_records_in_the_headline() -> None:
    lines = status.render(live("feed_complete"), color=False, source="running service")
    assert lines.splitlines()[0] == "NOT ENFORCING: blind to position records (refused repeatedly)"


@pytest.mark.parametrize(
    ("readiness", "said"),
    [
        ("feed blind", "  NOT ENFORCING: blind to a kind of the gateway's records (see feed)"),
        ("state not saved", "  NOT ENFORCING as it should: its state is not saved"),
        ("stopping", "  NOT ENFORCING: the service is stopping"),
    ],
)
def test_an_account_held_back_by_the_whole_service_says_so(readiness: str, said: str) -> None:
    snap = live(None)
    snap["accounts"][0]["readiness"] = readiness
    lines = status.render(snap, color=False, source="running service").splitlines()
    assert said in lines
    assert not [s for s in lines if "NOT ENFORCING YET" in s]


def test_trades_still_being_read_is_said_once_not_enforcing_beside_enforcing() -> None:
    """Found by a review: with an account's positions reconciled and enforced while its trades
    were still being read, the new headline said "NOT ENFORCING: trades still being read" in
    red above the account's "ENFORCING; its trades are still being read" (minutes, at the real
    request budget, on each restart holding a position). The headline now names what waits."""
    snap = live("reconciled")
    snap["accounts"][0]["readiness"] = "enforcing"
    out = status.render(snap, color=False, source="running service")
    assert "NOT ENFORCING the P&L limits yet: trades still being read" in out.splitlines()
    assert "NOT ENFORCING:" not in out
