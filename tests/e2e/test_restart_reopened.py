"""A position closed and opened again at the gateway while the service was down is a new
position after the restart: its hold time and its stop grace start from its own opening (and
the grace from when the restarted service first saw it), not from the one the database held
(the real project-x-py SDK against the paper gateway)."""

from __future__ import annotations

from datetime import timedelta

from fsm_risk.core.states import State
from tests.e2e.service_harness import ACCOUNT, Harness
from tests.factories import T0

MES = "CON.F.US.MES.Z26"


async def reopened_while_down(h: Harness, *, stop_order: int | None = None) -> None:
    """Stop the service; at the gateway cancel ``stop_order``, sell the long 1 MES (flat) and
    buy 1 again (a new position, opened at the clock's now)."""
    await h.stop()
    if stop_order is not None:
        h.gateway.cancel_order(ACCOUNT, stop_order)
    h.trade("MES", "sell", 1)
    h.trade("MES", "buy", 1)
    p = h.gateway.position(ACCOUNT, MES)
    assert p is not None and p.size == 1 and p.opened_at == h.clock.now()


async def test_rule_009_a_position_reopened_while_down_is_held_from_its_own_opening(
    h: Harness,
) -> None:
    await h.start("[rule.position_hold_time]\nlimit_minutes = 2\n")
    h.trade("MES", "buy", 1)  # opened at T0
    await h.until(lambda: MES in h.acct.positions, "the position reached the service")
    h.clock.set(T0 + timedelta(seconds=28))
    await reopened_while_down(h)  # the new position opened at T0 + 28 s
    h.clock.set(T0 + timedelta(seconds=126))  # past T0's limit, 98 s into the new position
    await h.start()
    await h.until(lambda: ACCOUNT in h.svc.known, "the start-up read applied")
    assert h.closes("MES") == []
    assert h.acct.positions[MES].opened_at == T0 + timedelta(seconds=28)  # the gateway's
    await h.advance(seconds=20)  # 118 s: within the limit
    assert h.closes("MES") == [] and h.position("MES") == 1
    h.clock.set(T0 + timedelta(seconds=148))  # its own deadline
    await h.gw_until(lambda: h.position("MES") == 0, "closed at its own deadline")
    [close] = h.closes("MES")
    assert close.received_at == T0 + timedelta(seconds=148)
    [row] = [e for e in h.svc.store.audit(ACCOUNT) if e.rule_id == "RULE-009"][:1]
    assert "open since 2026-11-23 09:00:28 CST (0h02m00s)" in row.reason, row.reason


async def test_rule_016_a_position_reopened_while_down_gets_the_grace_after_start_up(
    h: Harness,
) -> None:
    await h.start("[rule.stop_loss_required]\ngrace_seconds = 30\n")
    h.trade("MES", "buy", 1)  # opened at T0, with its stop
    stop = h.trade("MES", "sell", 1, type=4, stop_price=5900)
    await h.until(lambda: len(h.acct.orders) == 1, "the stop seen")
    h.clock.set(T0 + timedelta(seconds=35))
    await h.advance(seconds=0)
    assert h.closes("MES") == []
    h.clock.set(T0 + timedelta(seconds=37))
    await reopened_while_down(h, stop_order=stop.order_id)  # no stop this time
    h.clock.set(T0 + timedelta(seconds=40))
    await h.start()  # first sees the new position at T0 + 40 s
    await h.until(lambda: ACCOUNT in h.svc.known, "the start-up read applied")
    assert h.closes("MES") == []
    assert h.acct.positions[MES].opened_at == T0 + timedelta(seconds=37)  # the gateway's
    assert not h.acct.orders  # the cancelled stop is gone
    await h.advance(seconds=25)  # T0 + 65 s: within the grace from the start-up
    assert h.closes("MES") == [] and h.position("MES") == 1
    assert h.contract_state(MES) is State.Trading
    h.clock.set(T0 + timedelta(seconds=70))
    await h.gw_until(lambda: h.position("MES") == 0, "closed when its grace ended")
    [close] = h.closes("MES")
    assert close.received_at == T0 + timedelta(seconds=70)
