"""Found by a review of 3faee57: a strided run (contracts held together, past `TOGETHER`) kept
every new high of each contract's words and of each holding's combined value as a cap a peak
may reach there, so an expanding rise was kept whole; it is now judged at its holders' cap
levels alone (`core.caps`: a contract's in its price, a holding's in its combined value). What
must hold: with capped peaks reached within the run, every account ends in the state and with
the peak one by one left, and the same positions are closed, at the cap levels as at every
level."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import replace
from decimal import Decimal as D

from fsm_risk.core.events import Quote
from fsm_risk.core.pnl import MarkMode
from fsm_risk.core.waited import TOGETHER, judged, waited
from fsm_risk.rules.daily_loss_limit import DailyLossLimit
from fsm_risk.rules.trailing_drawdown import TrailingDrawdown
from tests.factories import ES, MNQ, MNQ_H27, Driver, account, make_engine, position
from tests.unit.test_quotes_strided_legs import _ended
from tests.unit.test_quotes_waited_shared import _BASE, AT, S, _accounts, _waited, _walks


def _capped(mode: MarkMode, held: list[dict[str, int]], contracts: Sequence[str]) -> Driver:
    """Four accounts (balances 50,000 to 50,300) holding ``held``, each quoted at its base,
    under a 400 intraday trailing drawdown from 50,000, its peak capped at 50,400 (reached a
    few hundred dollars up), and a 2,000 daily loss limit."""
    rules = {
        TrailingDrawdown: {"drawdown": "400", "starting_balance": "50000", "mode": "intraday"},
        DailyLossLimit: {"limit": "2000"},
    }
    d = Driver(make_engine(rules, mark_mode=mode))  # type: ignore[arg-type]
    d.now = AT
    for acc, sizes in enumerate(held, 1):
        d.send(account(str(50000 + 100 * (acc - 1)), acc=acc))
        for c, n in sizes.items():
            d.send(position(c, abs(n), str(_BASE[c][0]), long=n > 0, acc=acc, at=AT))
    for c in contracts:
        p = _BASE[c][0]
        d.send(Quote(c, AT - 10 * S, p, p - D("0.25"), p + D("0.25")))
    return d


def test_a_strided_run_under_capped_peaks_is_judged_as_one_by_one() -> None:
    """Seeded random batches of 2 or 3 contracts held together (17 to 256 partial quotes, in
    both orders of the legs), at either mark mode: at the holders' cap levels, and at every
    level (none known), every account ends as one by one, none falsely closed, none missed;
    and peaks are capped and floors touched in many of them."""
    fired = capped = 0
    for seed in range(80):
        r = random.Random(seed)
        contracts = r.sample([MNQ, MNQ_H27, ES], r.choice((2, 3)))
        mode = r.choice((MarkMode.LIQUIDATION, MarkMode.LAST))
        held = _accounts(r, contracts)
        quotes = _walks(r, contracts, r.randint(TOGETHER + 1, 256))
        swap = dict(zip(contracts, reversed(contracts), strict=True))
        for batch in (quotes, [replace(q, contract_id=swap[q.contract_id]) for q in quotes]):
            one = _capped(mode, held, contracts)
            one_by_one = _ended(one, batch)
            fired += len(one_by_one[1])
            capped += sum(
                D(a.rule_state["RULE-004"]["peak"]) == 50400 for a in one.engine.accounts.values()
            )
            fields = judged(mode is MarkMode.LIQUIDATION)
            d = _capped(mode, held, contracts)
            assert _ended(d, _waited(d, batch, fields)) == one_by_one, seed
            d = _capped(mode, held, contracts)
            v = d.engine.valuation
            every = waited(batch, d.engine.marks, fields, v.beside, v.holdings)
            assert _ended(d, every) == one_by_one, seed
    assert fired > 50 and capped > 50, (fired, capped)
