"""Found by a hunt (does status tell the truth), end to end (real project-x-py SDK, paper gateway,
`fsm-risk status` in its own process): after two losses in the watch, status shows RULE-012's
most recent watch (0 of 2 contracts: room for one) while the first watch already counted one
entry; the one contract the trader then enters is revenge and cools the account down."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from fsm_risk.core.states import State
from tests.e2e.service_harness import Harness, run_cli
from tests.e2e.test_service_rules import REVENGE, enter, round_trip

pytestmark = pytest.mark.paper(commission=Decimal(0))


async def test_status_room_on_rule_012_is_the_room_the_rule_leaves(h: Harness) -> None:
    await h.start(REVENGE)  # loss 50, 300 s, multiplier 2, 30 min
    await round_trip(h, "MNQ", 1, -120)  # -61.24: watch A, 2 contracts fire it
    await h.advance(seconds=30)
    await round_trip(h, "MNQ", 1, -120)  # its entry: 1 of A's 2; watch B: 0 of 2
    await h.advance(seconds=10)
    _, text = await run_cli(h.home, "status")
    assert "RULE-012" in text
    _, raw = await run_cli(h.home, "status", "--json")
    [row] = [r for r in json.loads(raw)["accounts"][0]["rules"] if r["id"] == "RULE-012"]
    await enter(h, "MNQ", "buy", 1)  # the one contract status says is still free
    await h.until(lambda: h.acct.state is not State.Trading, "RULE-012", timeout=10)
    assert (Decimal(row["value"]), Decimal(row["limit"])) == (1, 2), row
