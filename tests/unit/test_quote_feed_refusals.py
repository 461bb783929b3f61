"""Found by a review of ca4d42d (the market hub's GatewayQuote records handed straight to
`_on_quote`, the SDK's handler bypassed): refused quote records blinded the quote feed for good
(no good quote ever ended it: `/readyz` not enforcing for the rest of the run), and an exception
while handling a quote went up into pysignalr's reader, which re-raises a handler's exception
for a server invocation: the market hub's reader ended. Before, the SDK's forward caught it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.utils import format_datetime
from typing import Any

from project_x_py.realtime import ProjectXRealtimeClient

from fsm_risk.adapters.broker import BLIND_AFTER, Credentials, Malformed, ProjectXBroker, sdk_config
from fsm_risk.core.events import Quote

URLS = ("http://127.0.0.1:9/api", "http://127.0.0.1:9/hubs/user", "http://127.0.0.1:9/hubs/market")
NOW = datetime(2027, 3, 16, 14, 0, 0, tzinfo=UTC)
CID = "CON.F.US.MNQ.Z26"
DATA = {"symbol": "F.US.MNQ", "lastPrice": 20000.25, "timestamp": NOW.isoformat()}


def broker() -> tuple[ProjectXBroker, list[Any], Any]:
    """A broker watching MNQ, and the GatewayQuote handler it gives the market hub."""
    got: list[Any] = []
    b = ProjectXBroker(sdk_config(*URLS), Credentials("u", "key-0000"), got.append, now=lambda: NOW)
    b.watched.add(CID)
    rt = ProjectXRealtimeClient("token", "1", config=sdk_config(*URLS))
    return b, got, b._every_quote(rt)


def test_a_good_quote_after_refused_ones_ends_the_quote_feeds_blindness() -> None:
    b, got, forward = broker()
    for _ in range(BLIND_AFTER):
        forward(DATA)  # a record with no contract id: refused
    assert b.health.blind == ["quote"]
    forward(CID, DATA)
    assert b.health.blind == []
    assert isinstance(got[-1], Quote) and got[-1].last == Decimal("20000.25")


def test_a_good_quote_ends_a_run_of_refused_ones_short_of_blindness() -> None:
    b, _got, forward = broker()
    for _ in range(BLIND_AFTER - 1):
        forward(CID, {"lastPrice": "not a price", "timestamp": NOW.isoformat()})
    assert b.health.refused_in_a_row["quote"] == BLIND_AFTER - 1
    forward(CID, DATA)
    forward(DATA)  # one more refused: the run starts again, not blind
    assert b.health.refused_in_a_row["quote"] == 1
    assert b.health.blind == []


def test_a_quote_whose_handling_raises_is_refused_and_not_raised_into_the_hub() -> None:
    """This machine 45 s behind the gateway (stamps moved onto our time) and a quote stamped
    with .NET's default DateTime: moved 45 s back it is out of range (OverflowError)."""
    b, got, forward = broker()
    for _ in range(5):
        b.gateway_clock.heard(format_datetime(NOW + timedelta(seconds=45), usegmt=True))
    forward(CID, {"lastPrice": 1, "timestamp": (NOW + timedelta(seconds=45)).isoformat()})
    assert b.gateway_clock.quotes_agree and b.gateway_clock.skew is not None
    forward(CID, {"lastPrice": 20000.25, "timestamp": "0001-01-01T00:00:00"})
    assert isinstance(got[-1], Malformed) and got[-1].kind == "quote"
    forward(CID, DATA)
    assert isinstance(got[-1], Quote)
