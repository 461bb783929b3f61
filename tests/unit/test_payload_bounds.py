"""What parses but cannot be true is refused at the boundary: numbers out of 64-bit range
(whole floats included), implausible prices and amounts, times too far in the future."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from fsm_risk.adapters import payloads
from fsm_risk.adapters.payloads import PayloadError
from tests.unit.test_payloads import TRADE

NOW = datetime(2026, 11, 23, 15, 0, 5, tzinfo=UTC)
ORDER = {
    "id": 12,
    "accountId": 1001,
    "contractId": "CON.F.US.ES.Z26",
    "creationTimestamp": "2026-11-23T15:00:00Z",
    "status": 1,
    "type": 1,
    "side": 0,
    "size": 2,
    "limitPrice": 5990.25,
}
POSITION = {
    "id": 7,
    "accountId": 1001,
    "contractId": "CON.F.US.MNQ.Z26",
    "creationTimestamp": "2026-11-23T15:00:00Z",
    "type": 1,
    "size": 3,
    "averagePrice": 21000.25,
}


def trade(**kw: Any) -> Any:
    return payloads.bounded(payloads.trade({**TRADE, **kw}), NOW)


def test_sane_records_pass_unchanged() -> None:
    assert trade().trade_id == 99
    assert payloads.bounded(payloads.order(ORDER), NOW).order_id == 12
    assert payloads.bounded(payloads.position(POSITION), NOW).size == 3


@pytest.mark.parametrize(
    "field, value",
    [
        ("id", 2**63),
        ("orderId", 2**63),
        ("size", 2**63),
        ("size", 1e308),  # a whole JSON float is accepted as an integer: bounded all the same
        ("accountId", -(2**63) - 1),
    ],
)
def test_integers_beyond_64_bits_are_refused(field: str, value: Any) -> None:
    with pytest.raises(PayloadError, match="is out of range"):
        trade(**{field: value})


def test_order_and_position_integers_are_bounded_too() -> None:
    with pytest.raises(PayloadError, match="out of range"):
        payloads.bounded(payloads.order({**ORDER, "id": 2**64}), NOW)
    with pytest.raises(PayloadError, match="out of range"):
        payloads.bounded(payloads.position({**POSITION, "size": 1e300}), NOW)


def test_implausible_prices_and_amounts_are_refused() -> None:
    with pytest.raises(PayloadError, match="not a plausible price"):
        payloads.bounded(payloads.quote("CON.F.US.MNQ.Z26", {"lastPrice": "9" * 5000}, NOW), NOW)
    with pytest.raises(PayloadError, match="not a plausible price"):
        trade(price=1e308)
    with pytest.raises(PayloadError, match="not a plausible amount"):
        trade(profitAndLoss=-1e15)
    # the message stays one short line, whatever the record carried
    with pytest.raises(PayloadError) as caught:
        trade(price="9" * 5000)
    assert len(str(caught.value)) < 120


def test_a_quote_stamped_far_in_the_future_is_refused_and_a_little_skew_is_not() -> None:
    ahead = (NOW + timedelta(seconds=30)).isoformat()
    q = payloads.bounded(
        payloads.quote("CON.F.US.MNQ.Z26", {"lastPrice": 21000, "timestamp": ahead}, NOW), NOW
    )
    assert q.last == 21000
    with pytest.raises(PayloadError, match="in the future"):
        payloads.bounded(
            payloads.quote(
                "CON.F.US.MNQ.Z26",
                {"lastPrice": 21000, "timestamp": "2099-01-01T00:00:00Z"},
                NOW,
            ),
            NOW,
        )
    with pytest.raises(PayloadError, match="in the future"):
        trade(creationTimestamp="2099-01-01T00:00:00Z")
