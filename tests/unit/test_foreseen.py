"""A restarted account whose trades are unread and whose balance's move says a P&L rule would
fire has its trades read first (`core.foreseen`, `reconciler.urgency`): the estimate orders
the reads, it judges nothing earlier than before."""

from __future__ import annotations

from fsm_risk import reconciler
from fsm_risk.core.foreseen import foreseen
from fsm_risk.core.states import State
from fsm_risk.core.unjudged import LATE
from tests.factories import MNQ, quote
from tests.unit.test_unread import restarted


def test_a_fall_past_the_limit_by_the_balance_is_foreseen_and_judges_nothing() -> None:
    """Listed $1,200 below the stored balance on a $500 daily loss limit, its trades queued
    (no read failed): foreseen, and neither the question nor the wait closes it."""
    d = restarted("48800.00")
    acct = d.acct
    assert acct.behind is not None and not acct.behind.settled
    d.send(quote(MNQ, "21000"))
    kept = acct.unjudged
    assert kept is not None and not kept.estimating
    assert foreseen(acct, d.engine.book.rules, d.now)
    assert acct.unjudged is kept and not kept.estimating  # (the question changed nothing)
    out = d.send(quote(MNQ, "21000", at=d.now))
    assert acct.state is State.Trading and not out  # the estimate still waits `LATE`
    assert d.engine.next_deadline() == kept.since + LATE


def test_a_win_while_down_is_not_foreseen() -> None:
    """+$200 by the balance and no open loss: no rule would fire on the estimate."""
    d = restarted("50200.00")
    d.send(quote(MNQ, "21000"))
    assert not foreseen(d.acct, d.engine.book.rules, d.now)


def test_a_fall_within_the_limit_is_foreseen_once_the_open_loss_takes_it_past() -> None:
    """-$300 by the balance on a $500 limit: -$100 open (2 MNQ, $4 a point) is not foreseen,
    -$250 open is (-$550)."""
    d = restarted("49700.00")
    d.send(quote(MNQ, "20975", at=d.now))
    assert d.acct.open_upnl == -100
    assert not foreseen(d.acct, d.engine.book.rules, d.now)
    d.send(quote(MNQ, "20937.50", at=d.now))
    assert d.acct.open_upnl == -250
    assert foreseen(d.acct, d.engine.book.rules, d.now)
    assert d.acct.state is State.Trading


def test_a_balance_that_settles_the_trades_foresees_nothing() -> None:
    d = restarted("50000")  # settled: the rules judge at once, no estimate to foresee by
    assert d.acct.behind is not None and d.acct.behind.settled
    assert not foreseen(d.acct, d.engine.book.rules, d.now)


def test_a_foreseen_accounts_trades_go_before_the_other_exposed_accounts_steps() -> None:
    def level(**kw: bool) -> int:
        return reconciler.urgency(enforcing=False, exposed=True, known=True, probed=True, **kw)

    foreseen_level = level(behind=True, foreseen=True)
    assert foreseen_level == reconciler.FORESEEN
    assert reconciler.ENFORCING < foreseen_level < reconciler.EXPOSED < level(behind=True)
    assert level(behind=True, settled=True) == reconciler.REST


def test_a_locked_account_is_not_foreseen() -> None:
    """Its lock closes what it holds already: its trades read out of turn would only hold
    another exposed account's enforcing step back."""
    d = restarted("48800.00")
    d.send(quote(MNQ, "21000"))
    assert foreseen(d.acct, d.engine.book.rules, d.now)
    d.acct.state = State.LockedDaily
    assert not foreseen(d.acct, d.engine.book.rules, d.now)
