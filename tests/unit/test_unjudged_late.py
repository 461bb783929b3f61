"""Found by a review of fcaa755 (the grace from a failed read): a restarted account whose trades
read neither lands nor fails (held in the request budget: a locked trader's stream of cancels,
the gateway's 429 holding reads) is judged in the end: its grace cannot wait for a failure that
never comes."""

from __future__ import annotations

from datetime import timedelta

from fsm_risk.core.states import State
from fsm_risk.core.unjudged import ESTIMATED
from tests.factories import MNQ, closes, quote
from tests.unit.test_unread import restarted


def test_a_breach_whose_trades_read_neither_lands_nor_fails_is_closed_in_the_end() -> None:
    d = restarted("49999.26")  # a round trip's fees while down: the balance settles nothing
    assert d.acct.behind is not None and not d.acct.behind.settled
    d.send(quote(MNQ, "20700"))  # -$1,200 open against a $500 daily loss limit
    sent = []
    for _ in range(60):  # ten minutes, a quote every 10 s; no read fails, none lands
        d.now += timedelta(seconds=10)
        sent += closes(d.send(quote(MNQ, "20700", at=d.now)))
    assert [c.contract_id for c in sent] == [MNQ], (
        f"-$1,200 on a $500 limit still open after 10 minutes: {d.acct.state.name}"
    )
    assert d.acct.state is not State.Trading
    assert ESTIMATED in d.acct.holds["RULE-003"].detail
