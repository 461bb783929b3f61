"""An admin's unlock of a flattening account: the rules judge what it leaves open in the same
step, a contract's own close it goes back to is said in the force's audit, and the close of
what a close of ours opened leaves the trader's orders as it does from Trading."""

from __future__ import annotations

from datetime import timedelta

from fsm_risk.core.admin import force
from fsm_risk.core.effects import RecordTransition
from fsm_risk.core.events import AdminCommand, EnforcementRejected, Side
from fsm_risk.core.reasons import Reason
from fsm_risk.core.states import State
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from fsm_risk.rules.max_contracts import MaxContracts
from fsm_risk.rules.max_contracts_per_instrument import MaxContractsPerInstrument
from tests.factories import (
    ACC,
    ES,
    NQ,
    T0,
    Driver,
    account,
    cancels,
    closes,
    fill,
    make_engine,
    order,
    our_close_filled,
    position,
    quote,
    reduces,
)
from tests.unit.test_unlock_during_flatten_review2 import filled, flattened

UNLOCK = AdminCommand(ACC, State.Trading, "keep it", "ana")


def reduce_widened() -> Driver:
    """RULE-001 limit 5, RULE-002 limit 3: NQ 1, ES 4 (reduced to 3). RULE-003 flattens the
    account; the reduce fills (ES 3), our close of the rest is refused; his NQ buy 2 fills
    before its cancel (NQ 3)."""
    d = Driver(
        make_engine(
            {
                MaxContracts: {"limit": "5"},
                MaxContractsPerInstrument: {"default_limit": "3"},
                DailyLossLimit: {"limit": "500"},
            }
        )
    )
    d.send(account())
    d.send(fill(NQ, Side.BUY, 1, "21000", order_id=10), position(NQ, 1, "21000"))
    d.send(quote(NQ, "21000"))
    d.send(order(11, NQ, Side.BUY, 2, limit="20990"))
    d.send(fill(ES, Side.BUY, 4, "6000", order_id=20), position(ES, 4, "6000"))
    d.send(quote(ES, "5992"))
    assert d.acct.state is State.Flattening
    d.now += timedelta(milliseconds=100)
    done, f = our_close_filled(ES, Side.SELL, 1, "5992", pnl="-100", at=d.now)
    out = d.send(done, f, position(ES, 3, "6000", at=d.now))
    [c] = [c for c in closes(out) if c.contract_id == ES]
    d.send(EnforcementRejected(ACC, ES, None, "refused", seq=c.seq))
    d.send(
        fill(NQ, Side.BUY, 2, "20990", order_id=11, at=d.now),
        position(NQ, 3, "20993", at=d.now),
    )
    return d


def test_rule_001_judges_the_total_a_returned_reduce_leaves_at_the_unlock() -> None:
    """Found by a review: the admin unlocks the account above: NQ 3 is freed and ES's reduce
    goes back to its own target (3, already held): 6 open on RULE-001's limit of 5, and no
    rule judged it until the account's next wake-up ~10 s later (an admin command is no
    event RULE-001 reacts to). The unlock's own step reduces the excess."""
    d = reduce_widened()
    out = d.send(UNLOCK)
    assert d.acct.state is State.Trading
    assert {k: p.size for k, p in d.acct.positions.items()} == {NQ: 3, ES: 3}
    sent = [(r.rule_id, r.size) for r in reduces(out)]
    assert sent == [("RULE-001", 1)], f"6 open on RULE-001's limit of 5 at the unlock: {sent}"


def test_rule_002_judges_a_contract_the_unlock_frees_over_its_limit() -> None:
    """Found by a review (the same gap without a close of its own): RULE-003 flattens NQ 3 and
    ES 2; his NQ buy 1 fills before its cancel (NQ 4, over RULE-002's 3, judged nothing while
    NQ closes whole); our closes are refused. The unlock frees both: NQ 4 on a limit of 3 and
    6 on RULE-001's 5 must be reduced in the unlock's own step."""
    d = Driver(
        make_engine(
            {
                MaxContracts: {"limit": "5"},
                MaxContractsPerInstrument: {"default_limit": "3"},
                DailyLossLimit: {"limit": "500"},
            }
        )
    )
    d.send(account())
    d.send(fill(NQ, Side.BUY, 3, "21000", order_id=10), position(NQ, 3, "21000"))
    d.send(quote(NQ, "21000"), order(11, NQ, Side.BUY, 1, limit="20990"))
    d.send(fill(ES, Side.BUY, 2, "6000", order_id=20), position(ES, 2, "6000"))
    sent = closes(d.send(quote(ES, "5987")))  # -$650 on a $500 daily loss limit
    assert d.acct.state is State.Flattening and sorted(c.contract_id for c in sent) == [ES, NQ]
    d.send(*(EnforcementRejected(ACC, c.contract_id, None, "refused", seq=c.seq) for c in sent))
    d.send(fill(NQ, Side.BUY, 1, "20990", order_id=11), position(NQ, 4, "20997"))
    out = d.send(UNLOCK)
    sizes = {k: p.size for k, p in d.acct.positions.items()}
    assert sizes == {NQ: 4, ES: 2}
    sent_reduces = sorted((r.contract_id, r.size) for r in reduces(out))
    assert sent_reduces == [(NQ, 1)], f"NQ 4 on a limit of 3, 6 on 5: {sent_reduces}"


def test_the_unlock_audits_a_reduce_going_back_to_its_own_target() -> None:
    """Found by a review: ES's reduce going back to its own target at the unlock was in no
    text of the force (neither its answer nor its audit entry)."""
    d = reduce_widened()
    forced = force(d.engine, UNLOCK, d.now)
    said = f"{ES} goes back to its own close: down to 3 (RULE-002 MAX_CONTRACTS_PER_INSTRUMENT)"
    assert f"\n  {said}" in forced.text, forced.text
    [entry] = [
        e.entry
        for e in forced.effects
        if isinstance(e, RecordTransition)
        and e.entry.trigger == "force"
        and not e.entry.contract_id
    ]
    assert said in entry.reason, entry.reason


def overshot() -> Driver:
    """Our sell 2 (RULE-003's close of 2 ES long) fills beside his own exit: short 2, which
    our close of the account's flatten goes on to close (its own close, kept by an unlock)."""
    d, _ = flattened()
    d.now = T0 + timedelta(milliseconds=200)
    d.send(
        filled(d, 700),
        fill(ES, Side.SELL, 2, "5994", pnl="-600", order_id=700, at=d.now),
        filled(d, 555),
        fill(ES, Side.SELL, 2, "5994", order_id=555, at=d.now),
        position(ES, 2, "5994", long=False, at=d.now),
    )
    return d


def test_the_traders_orders_beside_an_overshoot_close_after_the_unlock() -> None:
    """Found by a review: from Trading the close of what ours opened leaves his orders (they
    are his entries, `overshot`); kept by the unlock it kept the account flatten's cancels and
    cancelled his new buy limit citing RULE-003's daily loss limit, which the admin had just
    waived. It is named for what it is, and leaves them."""
    d = overshot()
    d.send(UNLOCK)
    cm = d.acct.contracts[ES]
    assert cm.state is State.Flattening and cm.target_size == 0
    d.now += timedelta(seconds=1)
    out = d.send(order(98, ES, Side.BUY, 1, limit="5980", at=d.now))
    assert cancels(out) == [], [(c.order_id, c.reason) for c in cancels(out)]
    assert cm.reason is Reason.CLOSE_OVERSHOT


def test_the_unlock_audits_an_overshoot_close_it_keeps() -> None:
    """Found by a review: the close of what a close of ours opened, going on after the unlock,
    was in no text of the force."""
    d = overshot()
    forced = force(d.engine, UNLOCK, d.now)
    said = f"{ES} keeps closing what a close of ours opened: down to 0 (CLOSE_OVERSHOT)"
    assert f"\n  {said}" in forced.text, forced.text
