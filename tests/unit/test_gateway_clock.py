"""The gateway's clock against this machine's, from the Date of its answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from fsm_risk.adapters.gateway_clock import GatewayClock

NOW = datetime(2027, 3, 16, 14, 0, 0, 250000, tzinfo=UTC)


def date(offset: float) -> str:
    return format_datetime(NOW + timedelta(seconds=offset), usegmt=True)


def test_a_difference_is_taken_after_three_answers_and_said_once() -> None:
    clock = GatewayClock(lambda: NOW)
    assert clock.heard(date(-30)) is None and clock.heard(date(-30)) is None
    said = clock.heard(date(-30))
    assert said is not None and "29.8 s ahead of the gateway's" in said  # (to the second)
    assert clock.skew is not None and abs(clock.skew.total_seconds() + 30) <= 1
    assert clock.heard(date(-30)) is None  # the same: nothing new to say
    stamp = NOW - timedelta(seconds=30)
    assert clock.local(stamp) == stamp  # no quote has agreed yet
    clock.lag(NOW, stamp)  # a quote stamped 30 s before it came: it agrees
    assert abs((clock.local(stamp) - NOW).total_seconds()) <= 1
    assert clock.latest(NOW) == NOW  # a gateway behind never tightens the records' bound


def test_clocks_within_the_tolerance_are_left_as_they_are() -> None:
    clock = GatewayClock(lambda: NOW)
    for _ in range(5):
        assert clock.heard(date(-1)) is None
    assert clock.skew is None and clock.local(NOW) == NOW and clock.latest(NOW) == NOW


def test_the_clock_set_right_is_said_to_agree_again() -> None:
    clock = GatewayClock(lambda: NOW)
    for _ in range(3):
        clock.heard(date(-30))
    assert clock.skew is not None
    said = clock.heard(date(0))  # the quickest answer of the last five: in agreement
    assert said == "this machine's clock agrees with the gateway's again"
    assert clock.skew is None


def test_a_gateway_ahead_is_said_to_be_ahead() -> None:
    clock = GatewayClock(lambda: NOW)
    for _ in range(2):
        clock.heard(date(90))
    said = clock.heard(date(90))
    assert said is not None and "s behind the gateway's" in said
    assert abs((clock.latest(NOW) - NOW).total_seconds() - 90) <= 1  # its lead allowed


def test_answers_without_a_usable_date_are_ignored() -> None:
    clock = GatewayClock(lambda: NOW)
    for bad in (None, "", "yesterday", "Tue, 16 Mar 2027 14:00:00"):  # (no zone: unknown)
        assert clock.heard(bad) is None
    assert clock.estimate is None


def test_a_start_is_refused_only_past_a_minute_ahead_and_one_answer_is_enough() -> None:
    """The start checks the clock from the login's first answer (see `Service._start`): this
    machine a day ahead is refused, naming the difference; a minute ahead (a clock without
    time synchronisation) or behind, or no Date at all, is not."""
    clock = GatewayClock(lambda: NOW)
    assert clock.refusal() is None  # nothing heard: nothing contradicts the clock
    clock.heard(date(-86400))
    said = clock.refusal()
    assert said is not None and "86400 s (1 d 0 h 0 min) ahead of the gateway's" in said
    assert "synchronise this machine's clock" in said and "nothing was changed" in said
    for offset in (-60, 0, 3600):  # a minute ahead, none, an hour behind
        clock = GatewayClock(lambda: NOW)
        clock.heard(date(offset))
        assert clock.refusal() is None, offset
    clock = GatewayClock(lambda: NOW)
    clock.heard(date(-19800))
    clock.heard(date(-19800 - 3))  # a slow answer never makes it look further ahead
    said = clock.refusal()
    assert said is not None and "19800 s (5 h 30 min) ahead" in said


def test_the_records_bound_takes_the_gateways_lead_from_its_first_answer() -> None:
    """The start-up reads come right after the login's answers, before the difference is
    judged (`skew`, after three): one answer moves the bound a record's stamp may not pass."""
    clock = GatewayClock(lambda: NOW)
    clock.heard(date(300))  # the gateway's clock 5 minutes ahead of this machine's
    assert clock.skew is None
    assert abs((clock.latest(NOW) - NOW).total_seconds() - 300) <= 1
    clock = GatewayClock(lambda: NOW)
    clock.heard(date(-300))
    assert clock.latest(NOW) == NOW  # a gateway behind never tightens it
