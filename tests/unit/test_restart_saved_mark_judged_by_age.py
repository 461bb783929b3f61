"""Found by a review: 3d82ce5 made every mark saved before a restart stale until a quote of
the run, however recent: a position held across a quick restart at a loss past its limit on a
quote a few seconds old was no longer closed, but held until ES was quoted again (a quiet
market: minutes). A quote is stale when older than stale_after, fresh when younger: a saved
one too, for the positions held across the restart. What 3d82ce5 fixed stays fixed: a saved
mark never values a position opened since in its contract (its market went unwatched), that
one waits for a quote of this run (`test_restart_recent_mark_other_holder`).

4 ES bought at 6004.50, quoted 6000 (-$900 open on a $1,000 daily loss limit); the service
stops 5 s after that quote and starts again 5 s later; the trader loses $200 on MNQ a second
after the start: -$1,100 on a quote 11 s old (stale_after is 30 s)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D

from fsm_risk.core.states import State
from fsm_risk.status import snapshot
from tests.factories import ES, MNQ, T0, closes, quote
from tests.unit.test_restart_partial_first_quote import long_four_es_at_a_900_loss, lose_200_on_mnq


def test_a_quick_restart_judges_a_breach_on_a_saved_mark_younger_than_stale_after() -> None:
    r = long_four_es_at_a_900_loss(down=10)
    (held,) = snapshot(r.engine, r.now, [r.acc])["accounts"][0]["positions"]
    assert held["stale"] is False and held["unrealized"] == "-900.00", held
    out = lose_200_on_mnq(r)
    assert r.acct.open_upnl == D("-900")
    assert [c.contract_id for c in closes(out)] == [ES] and r.acct.state is State.Flattening, (
        f"-$200 realized, 4 ES -$900 at an 11 s old quote on a $1,000 limit: {r.acct.state}"
    )


def test_guard_a_saved_mark_older_than_stale_after_is_not_counted() -> None:
    """The same, the service started 40 s after the quote: the saved 6000 is stale, the -$900
    on it not counted; the first ES quote of the run (6000) is, and closes."""
    r = long_four_es_at_a_900_loss(down=40)
    (held,) = snapshot(r.engine, r.now, [r.acc])["accounts"][0]["positions"]
    assert held["stale"] is True
    out = lose_200_on_mnq(r)
    assert r.acct.state is State.Trading and closes(out) == []
    r.now = T0 + timedelta(seconds=45)
    out = r.send(quote(MNQ, "20900", at=r.now), quote(ES, "6000", at=r.now))
    assert [c.contract_id for c in closes(out)] == [ES] and r.acct.state is State.Flattening
