"""Found by a hunt (December's roll): a position limit cutting one of two equal months of a
root cut the month that sorts first as text. In June that is the old month (M26 before U26);
across the year end it is the new one (H27 before Z26), so a December roll lost the month the
trader was rolling into, and his resting exit of the old month, left working, then took him
flat. Ties now go by expiry: the nearer month is cut, every quarter alike."""

from __future__ import annotations

import pytest

from fsm_risk.core.effects import CancelOrder, ClosePosition, ReducePosition
from fsm_risk.core.events import Side
from fsm_risk.rules.max_contracts import MaxContracts
from fsm_risk.rules.max_contracts_per_instrument import MaxContractsPerInstrument
from tests.factories import Driver, account, fill, make_engine, order, position, quote

ROLLS = [
    ("CON.F.US.MNQ.M26", "CON.F.US.MNQ.U26"),  # June
    ("CON.F.US.MNQ.Z26", "CON.F.US.MNQ.H27"),  # December: H27 sorts before Z26 as text
]
RULES = [(MaxContractsPerInstrument, {"limits": "MNQ: 3"}), (MaxContracts, {"limit": "3"})]


def _rolled(rule: type, raw: dict[str, str], old: str, new: str, exit_resting: bool) -> list:
    """Long 3 of the old month at a limit of 3; he buys 3 of the new month (his roll's first
    leg), with or without his exit of the old month resting as a limit above the market."""
    d = Driver(make_engine({rule: raw}))
    d.send(account(), quote(old, "21000"), quote(new, "21100"))
    d.send(fill(old, Side.BUY, 3, "21000", order_id=11), position(old, 3, "21000"))
    if exit_resting:
        d.send(order(21, old, Side.SELL, 3, limit="21010"))
    return d.send(fill(new, Side.BUY, 3, "21100", order_id=22), position(new, 3, "21100"))


@pytest.mark.parametrize(("old", "new"), ROLLS, ids=["june", "december"])
@pytest.mark.parametrize(("rule", "raw"), RULES, ids=["rule-002", "rule-001"])
def test_a_tie_between_two_months_cuts_the_nearer_one(
    rule: type, raw: dict[str, str], old: str, new: str
) -> None:
    out = _rolled(rule, raw, old, new, exit_resting=False)
    cut = [e.contract_id for e in out if isinstance(e, ClosePosition | ReducePosition)]
    assert cut == [old], cut


@pytest.mark.parametrize(("old", "new"), ROLLS, ids=["june", "december"])
def test_a_roll_with_its_exit_resting_keeps_the_new_month(old: str, new: str) -> None:
    """The old month is closed and his resting sell of it cancelled (it would open a short):
    he holds his 3 of the new month, in December as in June."""
    out = _rolled(MaxContractsPerInstrument, {"limits": "MNQ: 3"}, old, new, exit_resting=True)
    cut = [e.contract_id for e in out if isinstance(e, ClosePosition | ReducePosition)]
    cancelled = [e.order_id for e in out if isinstance(e, CancelOrder)]
    assert cut == [old] and cancelled == [21], (cut, cancelled)
