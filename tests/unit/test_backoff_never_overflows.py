"""Found by a review: a reduce (RULE max contracts, no lock) answered 401 every second while the
login keeps failing. Each is a `limited` refusal, re-sent a second later and counted as a try:
`cm.attempts` climbs one a second, and `backoff(attempts)` (close_timeout doubled per try,
capped only AFTER the multiplication) overflows timedelta at the 44th: every step for the
account then raises, fails closed (FAILSAFE: LockedDaily, a lock no rule asked for)."""

from __future__ import annotations

from datetime import timedelta

from fsm_risk.core.effects import Alert, ReducePosition
from fsm_risk.core.events import EnforcementRejected
from fsm_risk.core.reasons import Reason
from fsm_risk.core.sessions import SessionCalendar
from fsm_risk.core.settings import EngineSettings
from fsm_risk.core.states import State
from fsm_risk.rules.max_contracts_per_instrument import MaxContractsPerInstrument
from tests.factories import MNQ, Driver, account, make_engine, position, quote

TOKEN_REFUSED = "/Position/partialCloseContract: HTTP 401: the gateway refused the session token"


def test_backoff_is_capped_however_many_tries() -> None:
    s = EngineSettings(SessionCalendar())  # the defaults: 10 s, doubling, capped at 60 s
    assert s.backoff(43) == timedelta(seconds=60)
    assert s.backoff(44) == timedelta(seconds=60)  # e5c0709: OverflowError
    assert s.after_refusal(1) == timedelta(seconds=1)
    assert s.after_refusal(1000) == timedelta(seconds=60)


def test_a_reduce_refused_401_for_a_minute_never_fails_the_account_closed() -> None:
    d = Driver(
        make_engine(
            {MaxContractsPerInstrument: {"limits": "MNQ: 3", "default_limit": "10"}},
            close_timeout=timedelta(seconds=10),
            close_backoff_max=timedelta(seconds=60),
        )
    )
    d.send(account(), quote(MNQ, "21000"))
    out = d.send(position(MNQ, 5, "21000"))
    assert [e.size for e in out if isinstance(e, ReducePosition)] == [2]
    refusals = 0
    while out and refusals < 60:  # each reduce sent is answered 401, as the service reports it
        (sent,) = [e for e in out if isinstance(e, ReducePosition)]
        d.send(EnforcementRejected(1001, MNQ, None, TOKEN_REFUSED, limited=True, seq=sent.seq))
        refusals += 1
        out = [e for e in d.advance(seconds=1) if isinstance(e, ReducePosition)]
    failsafe = [a for a in d.effects if isinstance(a, Alert) and a.reason is Reason.FAILSAFE]
    assert not failsafe, failsafe[0].message
    assert d.acct.state is State.Trading  # a max-contracts reduce locks nothing
