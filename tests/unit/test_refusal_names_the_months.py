"""Found by a hunt (December's roll): an admin's contract the service cannot place is refused
naming the choices, but the full ids it named were the first 8 of every contract it knew, in
text order. The service learns the gateway's whole list at start (42 contracts on the paper
gateway, two months each), so `MNQ H7` (a space, as people type it) was refused naming 6B, CL
and 6A contracts, neither the account's MNQ Z26 nor the MNQ H27 meant."""

from __future__ import annotations

import pytest

from fsm_risk.core.events import AdminCommand, Side
from fsm_risk.core.states import State
from fsm_risk.errors import FsmRiskError
from fsm_risk.paper.catalog import build_contracts
from fsm_risk.paper.settings import PaperSettings
from tests.factories import ACC, MNQ, MNQ_H27, Driver, account, fill, make_engine, position, quote


def _listed() -> Driver:
    """Long 1 MNQ Z26; the gateway's list (every product, Z26 and H27) learned, as at start."""
    d = Driver(make_engine())
    d.send(account(), quote(MNQ, "21000"))
    d.send(fill(MNQ, Side.BUY, 1, "21000"), position(MNQ, 1, "21000"))
    s = PaperSettings()
    for month in ("Z26", "H27"):
        for c in build_contracts(month, dict(s.product_codes), dict(s.fees)):
            d.engine.instruments.learn(c.id, c.tick_size, c.tick_value)
    return d


@pytest.mark.parametrize("typed", ["MNQ H7", "MNQ Z6", "/MNQH7", "MNQM7"])
def test_a_refused_contract_names_the_accounts_contract_and_the_roots_months(typed: str) -> None:
    d = _listed()
    with pytest.raises(FsmRiskError) as err:
        d.send(AdminCommand(ACC, State.LockedDaily, "desk", "ops", contract_id=typed))
    message = str(err.value)
    assert f"unknown contract '{typed}'" in message
    assert MNQ in message and MNQ_H27 in message, message
