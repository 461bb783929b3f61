"""A contract has a stored row only while its model has something to keep: locked, flattening,
a close of ours in flight. One traded and flat again is let go (its row deleted) and made
afresh when it is next needed, so a start reads what is locked now, not every contract an
account ever traded. Its transitions are audited all the same."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from fsm_risk.adapters.store import Store, restore_all
from fsm_risk.core.effects import Effect, RecordTransition
from fsm_risk.core.engine import RiskEngine
from fsm_risk.core.events import AdminCommand, OrderStatus, OrderType, PositionUpdate, Side
from fsm_risk.core.reasons import Reason
from fsm_risk.core.states import State
from fsm_risk.rules.base import Action, Scope, Verdict
from fsm_risk.rules.symbol_block import SymbolBlock
from tests.factories import (
    ACC,
    CL,
    MNQ,
    T0,
    Driver,
    Scripted,
    account,
    fill,
    make_engine,
    order,
    our_close_filled,
    position,
    reduces,
    transitions,
)
from tests.postgres import BACKENDS, sqlite_or_postgresql

#: a contract rule that reduces MNQ to 2 whenever a position update comes (the trip fires
#: only over the target: at or under it the table locks nothing, the rule holds nothing)
REDUCE_TO_2 = Verdict(
    "RULE-T01", Reason.MAX_CONTRACTS, Action.REDUCE, Scope.CONTRACT, contract_id=MNQ, target_size=2
)


def engine() -> RiskEngine:
    def reduce_over_2(view: object, event: object, now: object) -> tuple[Verdict, ...]:
        over = isinstance(event, PositionUpdate) and event.contract_id == MNQ and event.size > 2
        return (REDUCE_TO_2,) if over else ()

    return make_engine(
        {SymbolBlock: {"roots": "CL"}}, extra=[lambda ctx: Scripted(ctx, reduce_over_2)]
    )


def run(store: Store, d: Driver, *events: object) -> list[Effect]:
    out = d.send(*events)  # type: ignore[arg-type]
    audit = [e.entry for e in out if isinstance(e, RecordTransition)]
    store.commit(d.engine.take_changes(), audit)
    return out


def restart(path: str | Path, now: object) -> tuple[Store, Driver]:
    store = Store(path)
    d = Driver(engine(), now=now)  # type: ignore[arg-type]
    effects, _ = restore_all(store, d.engine, d.now)
    d.effects.extend(effects)
    store.commit(
        d.engine.take_changes(), [e.entry for e in effects if isinstance(e, RecordTransition)]
    )
    return store, d


@pytest.fixture(params=BACKENDS)
def path(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str | Path]:
    """The store's place: a SQLite file, or a fresh database on the PostgreSQL server."""
    yield from sqlite_or_postgresql(request, tmp_path / "state.db")


def sql(path: str | Path, statement: str, **params: object) -> list[tuple[object, ...]]:
    """Run one statement on the store's database, as another client would."""
    engine = create_engine(path if isinstance(path, str) else f"sqlite:///{path}")
    try:
        with engine.begin() as conn:
            result = conn.execute(text(statement), params)
            return [tuple(r) for r in result] if result.returns_rows else []
    finally:
        engine.dispose()


def rows(path: str | Path) -> dict[str, str]:
    found = sql(path, "SELECT contract_id, state FROM contract WHERE account_id = :a", a=ACC)
    return {str(c): str(s) for c, s in found}


def test_a_contract_flat_again_has_no_row_and_a_restart_makes_it_afresh(path: str | Path) -> None:
    store = Store(path)
    d = Driver(engine())
    out = run(store, d, account(), position(MNQ, 5, "21000"))
    [r] = reduces(out)
    assert r.size == 3
    assert rows(path) == {MNQ: "Flattening"}  # a reduce in flight: kept
    # reduced (our order's record, its trade, the position): the contract is free again
    run(store, d, *our_close_filled(MNQ, Side.SELL, 3, "21000"), position(MNQ, 2, "21000"))
    assert MNQ not in d.acct.contracts
    assert rows(path) == {}
    # every transition was audited, the audit log whole
    assert [(e.contract_id, e.from_state, e.to_state) for e in store.audit(ACC)] == [
        (MNQ, State.Trading, State.Flattening),
        (MNQ, State.Flattening, State.Trading),
    ]
    store.close()

    store2, d2 = restart(path, T0 + timedelta(minutes=5))
    assert d2.acct.contracts == {}
    # traded again: made afresh in Trading, through its machine, audited as before
    out = run(store2, d2, fill(MNQ, Side.BUY, 2, "21000", order_id=5), position(MNQ, 4, "21000"))
    assert [r.size for r in reduces(out)] == [2]
    assert transitions(out) == [(MNQ, "Trading", "Flattening", "breach")]
    assert rows(path) == {MNQ: "Flattening"}
    run(store2, d2, *our_close_filled(MNQ, Side.SELL, 2, "21000"), position(MNQ, 2, "21000"))
    assert rows(path) == {}
    assert len(store2.audit(ACC)) == 4
    store2.close()


def test_a_locked_contract_keeps_its_row_and_is_restored_with_its_hold(path: str | Path) -> None:
    store = Store(path)
    d = Driver(engine())
    cl = CL
    run(store, d, account(), position(cl, 1, "70"))  # a blocked root: closed, then locked
    # our close's record, its trade, then the position
    run(store, d, *our_close_filled(cl, Side.SELL, 1, "70"), position(cl, 0, "0"))
    cm = d.acct.contracts[cl]
    assert cm.state is State.LockedDaily and "RULE-017" in cm.holds
    # and an admin's lock on a root, held by nothing but itself
    run(store, d, AdminCommand(ACC, State.LockedDaily, "desk", "ops", contract_id="MNQ"))
    assert rows(path) == {cl: "LockedDaily", "MNQ": "LockedDaily"}
    kept = {c: m.to_dict() for c, m in d.acct.contracts.items()}
    store.close()

    store2, d2 = restart(path, T0 + timedelta(minutes=5))
    assert {c: m.to_dict() for c, m in d2.acct.contracts.items()} == kept
    assert rows(path) == {cl: "LockedDaily", "MNQ": "LockedDaily"}
    # the admin unlocks the root: free again, audited, and its row goes
    run(store2, d2, AdminCommand(ACC, State.Trading, "desk", "ops", contract_id="MNQ"))
    assert rows(path) == {cl: "LockedDaily"}
    assert store2.audit(ACC)[-1].to_state is State.Trading
    store2.close()


def test_an_idle_row_of_an_older_version_is_not_restored_and_goes(path: str | Path) -> None:
    store = Store(path)
    d = Driver(engine())
    run(store, d, account(), position(MNQ, 5, "21000"))
    flattening = d.acct.contracts[MNQ].to_dict()
    store.close()
    # as an older version left it: flat again, the model kept in Trading with its leftovers
    idle = {**flattening, "state": "Trading", "close": {**flattening["close"], "sent_at": None}}
    sql(
        path,
        "UPDATE contract SET state = 'Trading', snapshot = :s WHERE account_id = :a",
        s=json.dumps(idle, sort_keys=True),
        a=ACC,
    )
    store2, d2 = restart(path, T0 + timedelta(minutes=5))
    assert d2.acct.contracts == {}
    assert rows(path) == {}
    store2.close()


def test_a_contract_flat_while_our_close_still_works_is_kept_until_it_ends(
    path: str | Path,
) -> None:
    store = Store(path)
    d = Driver(engine())
    run(store, d, account(), position(MNQ, 5, "21000"))
    # the gateway's order for our reduce, working; then the trader takes the position to 2
    run(store, d, order(77, MNQ, Side.SELL, 3, type=OrderType.MARKET))
    assert d.acct.contracts[MNQ].close_order == 77
    run(store, d, position(MNQ, 2, "21000"))
    cm = d.acct.contracts[MNQ]
    assert cm.state is State.Trading and cm.close_in_flight  # ours still works: kept
    assert rows(path) == {MNQ: "Trading"}
    run(store, d, order(77, MNQ, Side.SELL, 3, type=OrderType.MARKET, status=OrderStatus.CANCELLED))
    assert MNQ not in d.acct.contracts
    assert rows(path) == {}
    store.close()
