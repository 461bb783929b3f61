"""RULE-017 symbol_block: wildcard roots, cancel and close on sight, the contract held
LockedDaily across resets while the block is configured, released once it is not."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from fsm_risk.core.events import AdminCommand, Event, OrderStatus, OrderUpdate, Quote, Side, Tick
from fsm_risk.core.reasons import Reason
from fsm_risk.core.states import State
from fsm_risk.rules.base import Action, Scope, Verdict
from fsm_risk.rules.symbol_block import SymbolBlock
from tests.factories import (
    CL,
    ES,
    MES,
    MNQ,
    NQ,
    T0,
    Driver,
    Scripted,
    account,
    cancels,
    closes,
    flat,
    make_engine,
    order,
    position,
    restart,
    rule_driver,
    rule_engine,
    transitions,
)

CL_G27 = "CON.F.US.CL.G27"


def engine(roots: str = "CL, M*") -> Any:
    return rule_engine(SymbolBlock, roots=roots)


def driver(roots: str = "CL, M*") -> Driver:
    return rule_driver(SymbolBlock, roots=roots)


def state(d: Driver, contract_id: str) -> State:
    cm = d.acct.contracts.get(contract_id)
    return cm.state if cm is not None else State.Trading


def cancelled(order_id: int, contract: str, at: datetime = T0) -> OrderUpdate:
    return order(order_id, contract, Side.BUY, 1, status=OrderStatus.CANCELLED, at=at)


def test_an_order_in_a_blocked_root_is_cancelled_and_the_contract_locked() -> None:
    d = driver()
    out = d.send(order(1, CL, Side.BUY, 1, limit="70"))
    assert [(c.order_id, c.reason) for c in cancels(out)] == [(1, Reason.SYMBOL_BLOCKED)]
    assert state(d, CL) is State.Flattening
    done = d.send(cancelled(1, CL))
    assert (CL, "Flattening", "LockedDaily", "flat_confirmed") in transitions(done)
    hold = d.acct.contracts[CL].holds["RULE-017"]
    assert (hold.kind, hold.until, hold.reason) == (State.LockedDaily, None, Reason.SYMBOL_BLOCKED)
    assert d.acct.state is State.Trading  # contract scope only


def test_a_position_in_a_wildcard_root_is_closed() -> None:
    d = driver()
    out = d.send(position(MNQ, 2, "21000"))
    assert [(c.contract_id, c.rule_id) for c in closes(out)] == [(MNQ, "RULE-017")]
    d.send(flat(MNQ))
    assert state(d, MNQ) is State.LockedDaily


@pytest.mark.parametrize("contract", [ES, NQ])
def test_roots_that_do_not_match_trade_freely(contract: str) -> None:
    d = driver()
    out = d.send(order(1, contract, Side.BUY, 1, limit="1"), position(contract, 1, "1"))
    assert not cancels(out) and not closes(out) and state(d, contract) is State.Trading


@pytest.mark.parametrize(
    ("roots", "blocked", "free"),
    [
        ("mnq", [MNQ], [MES, NQ]),  # case does not matter
        ("M?Q", [MNQ], [MES, NQ]),
        ("M[EN]*", [MNQ, MES], [NQ, CL]),
        ("N", [], [NQ, MNQ]),  # no wildcard: the exact root only
        ("", [], [CL, MNQ]),
    ],
)
def test_wildcard_matching(roots: str, blocked: list[str], free: list[str]) -> None:
    rule = engine(roots).rules[0]
    assert isinstance(rule, SymbolBlock)
    assert [c for c in blocked + free if rule._blocked(c)] == blocked


def test_every_contract_month_of_a_blocked_root_is_blocked() -> None:
    d = driver()
    d.send(order(1, CL, Side.BUY, 1, limit="70"), cancelled(1, CL))
    out = d.send(order(2, CL_G27, Side.BUY, 1, limit="70"))
    assert [c.order_id for c in cancels(out)] == [2]


def test_the_block_outlives_daily_resets() -> None:
    d = driver()
    d.send(order(1, CL, Side.BUY, 1, limit="70"), cancelled(1, CL))
    reset = d.engine.calendar.next_daily_reset(T0)
    d.at(reset)
    d.at(reset + timedelta(days=3))
    assert state(d, CL) is State.LockedDaily
    assert "RULE-017" in d.acct.contracts[CL].holds


def test_what_appears_later_in_the_locked_contract_is_removed_on_sight() -> None:
    d = driver()
    d.send(order(1, CL, Side.BUY, 1, limit="70"), cancelled(1, CL))
    d.now = T0 + timedelta(hours=1)
    out = d.send(order(2, CL, Side.SELL, 1, limit="80", at=d.now))
    assert [c.order_id for c in cancels(out)] == [2]
    d.send(cancelled(2, CL, at=d.now))
    out = d.send(position(CL, 1, "70", at=d.now))  # e.g. filled before the cancel landed
    assert [c.contract_id for c in closes(out)] == [CL]
    d.send(flat(CL, at=d.now))
    assert state(d, CL) is State.LockedDaily


# --- release ---------------------------------------------------------------------------------


def test_unblocking_the_root_and_restarting_releases_the_contract() -> None:
    d = driver("CL")
    d.send(order(1, CL, Side.BUY, 1, limit="70"), cancelled(1, CL))
    assert state(d, CL) is State.LockedDaily
    again = restart(d, lambda: engine("MES"), at=T0 + timedelta(days=1))
    assert state(again, CL) is State.Trading
    assert (CL, "LockedDaily", "Trading", "release") in transitions(again.effects)
    out = again.send(order(2, CL, Side.BUY, 1, limit="70", at=again.now))
    assert not cancels(out)
    assert again.acct.rule_state["RULE-017"] == {"held": [], "release": []}


def test_a_restart_with_the_block_still_configured_keeps_the_contract_locked() -> None:
    d = driver("CL")
    d.send(order(1, CL, Side.BUY, 1, limit="70"), cancelled(1, CL))
    again = restart(d, lambda: engine("CL, GC"), at=T0 + timedelta(days=1))
    assert state(again, CL) is State.LockedDaily
    out = again.send(order(2, CL, Side.BUY, 1, limit="70", at=again.now))
    assert [c.order_id for c in cancels(out)] == [2]


def test_release_verdicts_are_contract_scoped_and_emitted_once() -> None:
    d = driver("CL")
    d.send(order(1, CL, Side.BUY, 1, limit="70"), cancelled(1, CL))
    memo = {"held": [CL], "release": []}
    rule = engine("GC").rules[0]
    assert rule.observe(memo, d.acct, Tick(), T0)
    d.acct.rule_state["RULE-017"] = memo
    (v,) = rule.evaluate(d.acct, Tick(), T0)
    assert (v.action, v.scope, v.contract_id, v.reason) == (
        Action.RELEASE,
        Scope.CONTRACT,
        CL,
        Reason.SYMBOL_UNBLOCKED,
    )
    rule.observe(memo, d.acct, Tick(), T0)
    assert rule.evaluate(d.acct, Tick(), T0) == []


# --- locks -----------------------------------------------------------------------------------


def _contract_cooldown(ctx: Any) -> Scripted:
    def script(view: Any, event: Event, now: datetime) -> tuple[Verdict, ...]:
        if isinstance(event, OrderUpdate) and event.order_id == 99:
            return (
                Verdict(
                    "RULE-T01",
                    Reason.TRADE_COOLDOWN,
                    Action.CLOSE,
                    Scope.CONTRACT,
                    lock=State.Cooldown,
                    until=now + timedelta(minutes=30),
                    contract_id=CL,
                ),
            )
        return ()

    return Scripted(ctx, script)


def test_a_cooldown_ending_does_not_end_the_block() -> None:
    d = Driver(make_engine({SymbolBlock: {"roots": "CL"}}, extra=[_contract_cooldown]))
    d.send(account(), order(99, CL, Side.BUY, 1, limit="70"), cancelled(99, CL))
    assert state(d, CL) is State.LockedDaily
    assert set(d.acct.contracts[CL].holds) == {"RULE-017", "RULE-T01"}
    d.at(T0 + timedelta(minutes=30))  # the cooldown's deadline
    assert state(d, CL) is State.LockedDaily
    assert set(d.acct.contracts[CL].holds) == {"RULE-017"}


def _weekly(ctx: Any) -> Scripted:
    def script(view: Any, event: Event, now: datetime) -> tuple[Verdict, ...]:
        if isinstance(event, OrderUpdate) and event.order_id == 99:
            until = ctx.calendar.next_weekly_reset(now)
            return (
                Verdict(
                    "RULE-T01",
                    Reason.WEEKLY_LOSS_LIMIT,
                    Action.FLATTEN,
                    lock=State.LockedWeekly,
                    until=until,
                ),
            )
        return ()

    return Scripted(ctx, script)


def test_a_blocked_order_under_a_weekly_lock_leaves_the_weekly_lock_as_it_was() -> None:
    d = Driver(make_engine({SymbolBlock: {"roots": "CL"}}, extra=[_weekly]))
    d.send(account(), order(99, ES, Side.BUY, 1, status=OrderStatus.CANCELLED))
    weekly = d.acct.holds["RULE-T01"]
    assert d.acct.state is State.LockedWeekly
    d.send(order(1, CL, Side.BUY, 1, limit="70"), cancelled(1, CL))
    assert d.acct.state is State.LockedWeekly and d.acct.holds == {"RULE-T01": weekly}
    assert state(d, CL) is State.LockedDaily


def test_an_admin_may_unlock_a_blocked_contract_until_the_next_daily_reset() -> None:
    d = driver("CL")
    d.send(order(1, CL, Side.BUY, 1, limit="70"), cancelled(1, CL))
    d.send(AdminCommand(d.acc, State.Trading, "allowed today", "ops", contract_id=CL))
    out = d.send(order(2, CL, Side.BUY, 1, limit="70"))
    assert not cancels(out) and state(d, CL) is State.Trading
    out = d.at(d.engine.calendar.next_daily_reset(T0))  # the waiver ends: blocked again
    assert [c.order_id for c in cancels(out)] == [2]


def test_an_admins_waiver_ends_with_the_block_so_blocking_the_root_again_locks_again() -> None:
    d = driver("CL")
    d.send(order(1, CL, Side.BUY, 1, limit="70"), cancelled(1, CL))
    d.send(AdminCommand(d.acc, State.Trading, "allowed today", "ops", contract_id=CL))
    assert list(d.engine.waivers(d.acct)) == [f"RULE-017@{CL}"]
    d.engine.replace_rules(engine("GC").rules, d.now, actor="ops", detail="CL unblocked")
    d.send(Tick(d.acc))  # the block's release: its lock would have ended here, so does the waiver
    assert d.engine.waivers(d.acct) == {} and state(d, CL) is State.Trading
    d.engine.replace_rules(engine("CL").rules, d.now, actor="ops", detail="CL blocked again")
    out = d.send(order(2, CL, Side.BUY, 1, limit="70"))
    assert [c.order_id for c in cancels(out)] == [2]
    d.send(cancelled(2, CL))
    assert state(d, CL) is State.LockedDaily


def test_a_roots_waiver_ends_with_the_block_so_a_month_opened_later_is_blocked_again() -> None:
    d = driver("CL")
    d.send(order(1, CL, Side.BUY, 1, limit="70"), cancelled(1, CL))
    d.send(AdminCommand(d.acc, State.Trading, "allowed today", "ops", contract_id="CL"))
    assert list(d.engine.waivers(d.acct)) == ["RULE-017@CL"]  # every CL contract
    assert not cancels(d.send(order(2, CL_G27, Side.BUY, 1, limit="70")))
    d.send(cancelled(2, CL_G27))
    d.engine.replace_rules(engine("GC").rules, d.now, actor="ops", detail="CL unblocked")
    d.send(Tick(d.acc))  # the block's release ends the root's waiver too
    assert d.engine.waivers(d.acct) == {}
    d.engine.replace_rules(engine("CL").rules, d.now, actor="ops", detail="CL blocked again")
    out = d.send(order(3, CL_G27, Side.BUY, 1, limit="70"))
    assert [c.order_id for c in cancels(out)] == [3]


# --- settings, usage, cost -------------------------------------------------------------------


def test_the_default_blocks_nothing() -> None:
    d = Driver(make_engine({SymbolBlock: {}}))
    out = d.send(account(), order(1, CL, Side.BUY, 1, limit="70"), position(MNQ, 1, "21000"))
    assert not cancels(out) and not closes(out)
    u = d.engine.rules[0].usage(d.acct, T0)
    assert u is not None and u.fraction == 0


def test_usage_shows_exposure_in_a_blocked_root() -> None:
    d = driver("CL")
    d.send(order(1, CL, Side.BUY, 1, limit="70"))
    u = d.engine.rules[0].usage(d.acct, T0)
    assert u is not None
    assert (u.value, u.fraction) == (Decimal(1), Decimal(1))
    assert "CL" in u.detail


def test_quotes_never_evaluate_the_rule() -> None:
    assert Quote not in SymbolBlock.reacts_to
