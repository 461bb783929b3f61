"""An admin's unlock of a flattening account: the rules judge what it leaves open in the same
step."""

from __future__ import annotations

from datetime import timedelta

from fsm_risk.core.events import AdminCommand, EnforcementRejected, Side
from fsm_risk.core.states import State
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from fsm_risk.rules.max_contracts import MaxContracts
from fsm_risk.rules.max_contracts_per_instrument import MaxContractsPerInstrument
from tests.factories import (
    ACC,
    ES,
    NQ,
    Driver,
    account,
    closes,
    fill,
    make_engine,
    order,
    our_close_filled,
    position,
    quote,
    reduces,
)

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
