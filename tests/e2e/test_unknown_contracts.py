"""Contracts with no built-in tick size or value, end to end (real SDK, paper gateway, service).

The paper gateway lists 6A (``CON.F.US.DA6.Z26``, 0.00005 at $5.00) and SI (``CON.F.US.SIE.Z26``,
0.005 at $25.00), roots the service has no defaults for. Before, the service asked the gateway
for a contract's ticks only once a position in it had come, and closed that position at once
as an unknown instrument (CRITICAL ``UNKNOWN_INSTRUMENT``): a trader's first 6A or SI was gone
the moment he opened it. Now the gateway's contract list is read at start and at each daily
reset, and a contract listed since is asked for while its position waits (see
`fsm_risk.core.unpriced`); only one the gateway does not describe, or not in time, is closed.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from fsm_risk.core.states import State
from tests.e2e.service_harness import Harness

pytestmark = pytest.mark.paper(spread_ticks=0, commission=Decimal(0))

ROOMY = (
    "[rule.max_contracts]\nlimit = 20\n[rule.max_contracts_per_instrument]\ndefault_limit = 20\n"
)
ASKING = "tick size and value unknown, asking the gateway"


def said(h: Harness, text: str) -> list[str]:
    return [line for line in h.logs if text in line]


def criticals(h: Harness) -> list[str]:
    """The CRITICAL alerts of a position closed as an unknown instrument."""
    return [line for line in said(h, "ALERT UNKNOWN_INSTRUMENT") if "| CRITICAL |" in line]


async def held_and_valued(h: Harness, root: str, size: int, tick_value: str) -> None:
    """The trader's position is seen, valued tick by tick, and left alone."""
    cid = h.gateway.contract(root).id
    await h.until(lambda: (p := h.acct.positions.get(cid)) is not None and p.priced, "valued")
    last = h.gateway.move_price(root, -3).last
    await h.until(lambda: (m := h.svc.engine.marks.get(cid)) is not None and m.last == last, "mark")
    assert h.acct.positions[cid].upnl == -3 * size * Decimal(tick_value)
    await h.advance(seconds=30)  # past any deadline a hold could have
    await h.until(lambda: not h.acct.unpriced, "no position waits for its ticks")
    assert h.closes(root) == []
    assert h.position(root) == size
    assert h.contract_state(cid) is State.Trading
    assert criticals(h) == []


@pytest.mark.parametrize(
    ("root", "code", "tick_value"), [("6A", "DA6", "5.00"), ("SI", "SIE", "25.00")]
)
async def test_a_listed_contract_with_no_builtin_ticks_is_known_at_start_and_not_closed(
    h: Harness, root: str, code: str, tick_value: str
) -> None:
    await h.start(ROOMY)
    cid = h.gateway.contract(root).id
    assert cid == f"CON.F.US.{code}.Z26"
    assert cid in h.svc.engine.instruments.learned()  # from the contract list, before a position
    h.trade(root, "buy", 2)
    await held_and_valued(h, root, 2, tick_value)
    assert said(h, ASKING) == []  # nothing to ask: the list said it
    assert h.svc.contracts.reads == 1


async def test_a_contract_listed_after_the_read_is_asked_for_and_not_closed(h: Harness) -> None:
    h.gateway.unlist("6A")  # a month listed after the service read the list
    await h.start(ROOMY)
    cid = h.gateway.contract("6A").id
    assert cid not in h.svc.engine.instruments.learned()
    h.trade("6A", "buy", 1)
    await held_and_valued(h, "6A", 1, "5.00")
    assert len(said(h, ASKING)) == 1  # held a moment, asked, valued


async def test_the_list_is_read_again_at_the_daily_reset(h: Harness) -> None:
    h.gateway.unlist("SI")
    await h.start(ROOMY)
    cid = h.gateway.contract("SI").id
    assert cid not in h.svc.engine.instruments.learned()
    h.gateway.relist("SI")  # listed during the day
    reset = h.svc.engine.calendar.next_daily_reset(h.clock.now())
    h.clock.advance(seconds=(reset - h.clock.now()).total_seconds() + 1)
    await h.until(lambda: h.svc.contracts.reads == 2, "the list read again at the reset")
    await h.until(lambda: cid in h.svc.engine.instruments.learned(), "SI learned")
    h.trade("SI", "buy", 1)
    await held_and_valued(h, "SI", 1, "25.00")
    assert said(h, ASKING) == []


async def test_a_contract_the_gateway_does_not_know_is_closed_with_the_alert(h: Harness) -> None:
    h.gateway.unlist("6A", by_id=False)  # traded, but described nowhere
    await h.start(ROOMY)
    h.trade("6A", "buy", 1)
    await h.gw_until(lambda: h.position("6A") == 0, "the position closed by the service")
    assert [o.size for o in h.closes("6A")] == [1]
    [critical] = criticals(h)
    assert "the gateway has no such contract" in critical


async def test_a_contract_the_gateway_does_not_describe_in_time_is_closed(h: Harness) -> None:
    h.gateway.unlist("6A")
    await h.start(ROOMY)
    cid = h.gateway.contract("6A").id
    h.gateway.fail_rest("/api/Contract/searchById", 503, count=1000)  # asked, never answered
    h.trade("6A", "buy", 1)
    await h.until(lambda: cid in h.acct.unpriced, "held while the gateway is asked")
    assert h.closes("6A") == []
    await h.advance(seconds=10)  # the settle timeout
    await h.gw_until(lambda: h.position("6A") == 0, "the position closed by the service")
    [critical] = criticals(h)
    assert "the gateway did not tell them within 10 s" in critical
    assert [o.size for o in h.closes("6A")] == [1]
