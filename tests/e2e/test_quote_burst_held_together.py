"""Found by a review of 160d7c6 (the quotes of contracts held together judged one by one): in a
burst of quotes (5,000 a second) with a whole-account rule on (a daily loss limit, a trailing
drawdown: every real book), 300 accounts long ZN and MNQ had every quote judged one by one, and
the breach to the last ZN stop loss closed 15.9 and 17.1 s (merged: 1.3 s). Past `TOGETHER`
quotes of contracts held together in one run, it is judged at a few places (`core.waited.strided`:
every stride-th, each contract's turns and each holding's turns of its combined value), every
contract's mark at each moved together to its word there: the consumer keeps up (within 3 s
here, 1.3-1.7 s measured on a loaded machine; merged 1.3 s), and every state judged is one the
quotes one by one left."""

from __future__ import annotations

from decimal import Decimal

import pytest

from fsm_risk.paper.settings import PaperAccount
from tests.e2e.service_harness import Harness
from tests.e2e.test_quote_burst_reaction import RULES as STOP_ONLY
from tests.e2e.test_quote_burst_reaction import seconds_to_the_last_zn_close

D = Decimal
ACCOUNTS = tuple(PaperAccount(1001 + i, f"PAPER-{i + 1}", D("50000.00")) for i in range(300))
pytestmark = pytest.mark.paper(spread_ticks=0, commission=D(0), accounts=ACCOUNTS, rate_limit=0)
BOUND = 3.0  # s from the breach to the last of the 300 ZN stop losses closed (one by one: 16 s)
REALISTIC = STOP_ONLY + (
    "[rule.daily_loss_limit]\nlimit = 1000\n"
    "[rule.trailing_drawdown]\ndrawdown = 2500\nstarting_balance = 50000\n"
)


@pytest.mark.parametrize("rules", [STOP_ONLY, REALISTIC], ids=["stop_only", "realistic"])
async def test_a_burst_beside_contracts_held_together_is_kept_up_with(
    h: Harness, rules: str
) -> None:
    await h.start(rules)
    assert h.svc.engine.book.whole == (rules is REALISTIC)
    last = await seconds_to_the_last_zn_close(h, ACCOUNTS)
    assert last < BOUND, (
        f"the {len(ACCOUNTS)} ZN stop losses were closed {last:.2f} s after the breach"
    )
