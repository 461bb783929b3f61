"""Found by a review of 83fd118 and 3e56d9d: a partial first quote (a bid and an ask, no last)
of a contract whose mark was saved before a quick restart took it out of `Valuation.saved` and
re-stamped the mark, keeping the last price from before the stop. Two consequences (last mode):

A. A position opened since in that contract is then valued at the pre-stop last, fresh (the
   3d82ce5 finding back): 4 ES bought at 6010 read -$2,000 at the saved 6000 on a $1,000 limit.
B. The restored holder's position is valued at the pre-stop last, fresh for as long as partial
   quotes keep coming, long past stale_after (3e56d9d's stale valuation defeated)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D
from pathlib import Path

from fsm_risk.core.events import Quote
from fsm_risk.core.states import State
from fsm_risk.status import snapshot
from tests.factories import ES, T0, closes
from tests.unit.test_restart_partial_first_quote import long_four_es_at_a_900_loss, lose_200_on_mnq
from tests.unit.test_restart_recent_mark_other_holder import buy_four_es_at_6010, restarted


def test_a_partial_first_quote_never_lets_the_saved_last_value_a_new_position(
    tmp_path: Path,
) -> None:
    r = restarted(tmp_path)  # 1002 holds 1 ES across a quick restart, saved last 6000 at T0+5
    r.now = T0 + timedelta(seconds=12)
    r.send(Quote(ES, r.now, None, D("6010"), D("6010.25")))  # ES now 6010: a bid and an ask
    r.now = T0 + timedelta(seconds=15)
    out = buy_four_es_at_6010(r)  # 1001 buys 4 ES at 6010
    assert (r.acct.state, [c.contract_id for c in closes(out)], r.acct.open_upnl) == (
        State.Trading,
        [],
        D(0),
    ), f"open {r.acct.open_upnl} at the pre-stop last {r.engine.valuation.last_mark(ES)}"


def test_partial_quotes_never_keep_a_saved_last_fresh() -> None:
    r = long_four_es_at_a_900_loss(down=10)  # saved 6000 at T0, 4 ES -$900, restart at T0+10
    r.now = T0 + timedelta(seconds=12)
    r.send(Quote(ES, r.now, None, D("6010"), D("6010.25")))  # ES truly 6010 (+$1,100)
    r.now = T0 + timedelta(seconds=55)  # the saved last 55 s old: stale by its age
    r.send(Quote(ES, r.now, None, D("6010"), D("6010.25")))
    (held,) = snapshot(r.engine, r.now, [r.acc])["accounts"][0]["positions"]
    out = lose_200_on_mnq(r)
    got = (r.acct.state, [c.contract_id for c in closes(out)], held["stale"], held["unrealized"])
    assert got == (State.Trading, [], True, None), (
        f"{got}: judged on the pre-stop 6000 re-stamped by partial quotes "
        f"(open {r.acct.open_upnl}; truth +1100)"
    )
