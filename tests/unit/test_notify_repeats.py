"""The repeat hold-back of enforcement notices: an escalation, or another order named, is news."""

from __future__ import annotations

from typing import Any

from fsm_risk.core.effects import Alert, Level
from fsm_risk.core.reasons import Reason
from fsm_risk.observe import Committed
from tests.factories import MNQ, Driver
from tests.unit.test_notify import clocked_notifier


def _setup() -> tuple[Any, Driver, list[float]]:
    return clocked_notifier()


def _drain(n: Any) -> list[Any]:
    out = []
    while not n.queue.empty():
        out.append(n.queue.get_nowait())
    return out


def test_the_critical_escalation_of_a_warning_is_not_held_back() -> None:
    """A close not confirmed: WARNING at the first check (sent), CRITICAL from
    alert_after_attempts (3) checks on. The escalation has the same key (reason, account,
    contract) and was held for up to 5 minutes: nobody was told it had become critical."""
    n, d, clock = _setup()
    warn = Alert(
        Level.WARNING,
        Reason.CLOSE_NOT_CONFIRMED,
        "close of MNQ not confirmed: reading the gateway before re-sending",
        d.acc,
        MNQ,
    )
    n.observe(Committed([], [warn], d.now))
    assert [x.level for x in _drain(n)] == ["warning"]
    clock[0] += 20.0  # two more timeouts, no read answered
    crit = Alert(
        Level.CRITICAL,
        Reason.CLOSE_NOT_CONFIRMED,
        "close of MNQ not confirmed: reading the gateway before re-sending "
        "(asked 3 times, no read yet)",
        d.acc,
        MNQ,
    )
    n.observe(Committed([], [crit], d.now))
    assert [x.level for x in _drain(n)] == ["failure"]


def test_a_second_orders_refused_resize_is_news() -> None:
    """CLOSE_REJECTED for a resize asks the trader to act on one named order; another
    order's refusal in the same contract a minute later names another order to act on."""
    n, d, clock = _setup()
    for oid in (11, 12):
        a = Alert(
            Level.CRITICAL,
            Reason.CLOSE_REJECTED,
            f"sell stop order {oid} in {MNQ} (5 contracts) could not be resized to 3 "
            "(refused): 3 held; resize it to 3 or cancel it at the platform, or filled "
            "whole it reverses the position",
            d.acc,
            MNQ,
        )
        n.observe(Committed([], [a], d.now))
        clock[0] += 60.0
    bodies = [x.body for x in _drain(n)]
    assert any("order 12" in b for b in bodies), bodies


async def test_notices_held_back_go_out_when_the_service_stops() -> None:
    """A close refused again and again until the service stops: the notices held back go out
    before "fsm-risk stopped", not never."""
    import asyncio

    n, d, clock = _setup()
    n._task = asyncio.ensure_future(asyncio.sleep(3600))  # (the sender: nothing drains)
    for _ in range(3):
        a = Alert(Level.CRITICAL, Reason.CLOSE_NOT_CONFIRMED, "not in time", d.acc, MNQ)
        n.observe(Committed([], [a], d.now))
        clock[0] += 1.0
    assert len(_drain(n)) == 1
    await n.stop(drain_seconds=0.01)
    titles = [x.title for x in _drain(n)]
    assert titles == [f"Account {d.acc}: CLOSE_NOT_CONFIRMED", "fsm-risk stopped"]
