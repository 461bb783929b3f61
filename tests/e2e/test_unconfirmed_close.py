"""A close the gateway carried out but never reported (real SDK, paper gateway, service).

The reduce is accepted and filled at the gateway, but the user hub goes quiet for the
account's orders, trades and positions right after the breach was pushed: the service hears
nothing of its close. When the close timeout passes it must not send the reduce again from the
position it last heard (that would close a contract the trader is entitled to hold): it reads
the gateway first, and re-sends only what the gateway still shows over the limit.
"""

from __future__ import annotations

from typing import Any

from fsm_risk.core.reasons import Reason
from fsm_risk.core.states import State
from fsm_risk.paper.gateway import GatewayEvent
from tests.e2e.service_harness import ACCOUNT, Harness

MNQ = "CON.F.US.MNQ.Z26"
LIMIT = """
[broker]
reconcile_interval_seconds = 0
[rule.max_contracts]
limit = 5
"""
QUIET = ("GatewayUserOrder", "GatewayUserTrade", "GatewayUserPosition")


def quiet_after(h: Harness, size: int, fill_delay: float = 0.0) -> None:
    """Silence the account's order, trade and position records once a position of ``size``
    has been pushed (that push itself goes out); from then on, fills come ``fill_delay``
    seconds after their order."""

    def listener(event: GatewayEvent) -> None:
        p: Any = event.data
        if (
            event.kind == "pushed"
            and p.target == "GatewayUserPosition"
            and p.account_id == ACCOUNT
            and p.payload.get("size") == size
        ):
            for target in QUIET:
                h.gateway.silence(target)
            h.gateway.set_fill_delay(fill_delay)

    h.gateway.add_listener(listener)


def heard(h: Harness) -> int:
    """The size of the MNQ position as the service last heard it (0: none)."""
    p = h.acct.positions.get(MNQ)
    return 0 if p is None else p.size


def reads(h: Harness) -> int:
    return sum("reading the gateway before re-sending" in m for m in h.logs)


async def reduced_unheard(h: Harness) -> None:
    """6 MNQ against a limit of 5: the reduce by 1 fills at the gateway, and the service
    hears only the breach."""
    await h.start(LIMIT)
    quiet_after(h, 6)
    h.trade("MNQ", "buy", 6)
    await h.gw_until(lambda: h.position("MNQ") == 5, "the reduce filled at the gateway")
    await h.until(lambda: heard(h) == 6, "the breach heard")
    assert h.contract_state(MNQ) is State.Flattening  # its close unheard of


async def test_a_close_filled_unheard_is_read_back_not_sent_twice(h: Harness) -> None:
    await reduced_unheard(h)
    await h.advance(seconds=2)  # the close timeout
    await h.until(lambda: h.contract_state(MNQ) is State.Trading, "confirmed from the read")
    assert [(c.source, c.size) for c in h.closes("MNQ")] == [("partial_close", 1)]
    assert h.position("MNQ") == 5 and heard(h) == 5
    assert reads(h) == 1
    await h.advance(seconds=10)  # and nothing more goes out later
    assert len(h.closes("MNQ")) == 1 and h.position("MNQ") == 5


async def test_a_position_over_again_unheard_is_reduced_after_the_read(h: Harness) -> None:
    await reduced_unheard(h)
    h.trade("MNQ", "buy", 1)  # unheard too: the gateway holds 6 again
    assert h.position("MNQ") == 6
    await h.advance(seconds=2)
    await h.gw_until(lambda: len(h.closes("MNQ")) == 2, "re-sent after the read")
    await h.gw_until(lambda: h.position("MNQ") == 5, "reduced after the read")
    assert [(c.source, c.size) for c in h.closes("MNQ")] == [("partial_close", 1)] * 2
    assert reads(h) == 1
    # the second close of the breach: past alert_after_attempts (2), a critical alert
    assert any(Reason.CLOSE_FAILING.name in m and "(6 open)" in m for m in h.logs)


async def test_a_close_read_as_working_then_filled_unheard_is_read_again(h: Harness) -> None:
    """The read finds the reduce still working (its fill comes 3 s later, unheard of too):
    it is waited for, not doubled, and the next timeout reads the gateway again, which
    confirms it. Without that second read the contract stayed Flattening for good (periodic
    reads are off here)."""
    await h.start(LIMIT)
    quiet_after(h, 6, fill_delay=3.0)  # the reduce fills 3 s after it goes
    h.trade("MNQ", "buy", 6)
    await h.until(lambda: heard(h) == 6, "the breach heard")
    await h.advance(seconds=2)  # the close timeout: read, and the reduce is working there
    await h.until(lambda: any("still working after" in m for m in h.logs), "read: working")
    assert h.position("MNQ") == 6 and h.contract_state(MNQ) is State.Flattening
    await h.gw_until(lambda: h.position("MNQ") == 5, "the reduce filled at the gateway")
    assert heard(h) == 6
    await h.advance(seconds=4)  # the next timeout (the backoff doubled): read again
    await h.until(lambda: h.contract_state(MNQ) is State.Trading, "confirmed from the read")
    assert [(c.source, c.size) for c in h.closes("MNQ")] == [("partial_close", 1)]
    assert h.position("MNQ") == 5 and heard(h) == 5
    assert sum("reading the gateway" in m for m in h.logs) == 2
