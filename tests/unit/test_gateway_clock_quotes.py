"""The gateway's clock applied to quotes and records: an unstamped quote is ours, a cache's
Date is not taken, and an API host whose clock is off (the quotes' stamps disagree) never
makes a stale quote fresh."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

from fsm_risk.adapters.broker import Credentials, ProjectXBroker, sdk_config
from fsm_risk.core.events import Quote

URLS = ("http://127.0.0.1:9/api", "http://127.0.0.1:9/hubs/user", "http://127.0.0.1:9/hubs/market")
NOW = datetime(2027, 3, 16, 14, 0, 0, tzinfo=UTC)
CID = "CON.F.US.MNQ.Z26"


def broker(skew: float, age: str | None = None) -> tuple[ProjectXBroker, list[Any]]:
    """A broker whose last five answers said the gateway's clock is ``skew`` s ahead."""
    got: list[Any] = []
    b = ProjectXBroker(sdk_config(*URLS), Credentials("u", "key-0000"), got.append, now=lambda: NOW)
    b.watched.add(CID)
    for _ in range(5):
        b.gateway_clock.heard(format_datetime(NOW + timedelta(seconds=skew), usegmt=True), age)
    return b, got


def quote(b: ProjectXBroker, got: list[Any], stamp: datetime | None) -> Quote | None:
    data: dict[str, Any] = {"lastPrice": 20000}
    if stamp is not None:
        data["timestamp"] = stamp.isoformat()
    b._on_quote({"contract_id": CID, "data": data})
    found = [e for e in got if isinstance(e, Quote)]
    return found[-1] if found else None


def test_a_quote_without_a_stamp_arrives_now_whatever_the_clocks() -> None:
    for skew in (45, -45):
        b, got = broker(skew)
        assert b.gateway_clock.skew is not None
        q = quote(b, got, None)
        assert q is not None and q.at == NOW


def test_a_stamped_quote_of_a_gateway_45_s_ahead_is_on_our_time() -> None:
    b, got = broker(45)
    q = quote(b, got, NOW + timedelta(seconds=45))  # fresh, on the gateway's clock
    assert q is not None and abs((NOW - q.at).total_seconds()) < 1.5


def test_a_caches_old_date_is_not_taken() -> None:
    """An HTTP cache serves a stored answer with its original Date and an Age: ten minutes
    old, it would have refused every quote as from the future."""
    b, got = broker(-600, age="600")
    assert b.gateway_clock.skew is None
    q = quote(b, got, NOW)
    assert q is not None and q.at == NOW


def test_an_api_host_whose_clock_is_off_never_makes_a_stale_quote_fresh() -> None:
    """Dates 40 s behind (the API host's clock), the quotes stamped by the market feed on
    the true time: a quote 50 s old stays 50 s old."""
    b, got = broker(-40)
    quote(b, got, NOW)  # a fresh quote: lags 0, the Dates' 40 s are not the feed's
    q = quote(b, got, NOW - timedelta(seconds=50))
    assert q is not None and (NOW - q.at).total_seconds() >= 49


def test_slow_answers_alone_make_no_quote_fresher() -> None:
    """Clocks in agreement, every answer 3 s on its way: the Dates say 2.5 s, the quotes
    do not agree, and no quote is moved."""
    b, got = broker(-3)
    q = quote(b, got, NOW - timedelta(seconds=0.05))
    assert q is not None and q.at == NOW - timedelta(seconds=0.05)


def test_a_slow_answer_among_quick_ones_moves_nothing() -> None:
    from fsm_risk.adapters.gateway_clock import GatewayClock

    clock = GatewayClock(lambda: NOW)
    for offset in (-30, -30, -35, -30):  # one answer 5 s slower
        clock.heard(format_datetime(NOW + timedelta(seconds=offset), usegmt=True))
    assert clock.estimate == -29.5  # the quickest answer's
