"""The journal's event codec: every core event kind survives encode/decode exactly."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from fsm_risk.core import codec
from fsm_risk.core.events import (
    AccountUpdate,
    AdminCommand,
    CloseInDoubt,
    CloseWaiting,
    EnforcementAccepted,
    EnforcementRejected,
    Fill,
    InstrumentInfo,
    InstrumentMissing,
    Listing,
    OrderStatus,
    OrderType,
    OrderUpdate,
    PositionType,
    PositionUpdate,
    PriceAt,
    PricesAtReset,
    Quote,
    SelfLock,
    Side,
    Tick,
    TradesSnapshot,
)
from fsm_risk.core.states import State

T = datetime(2026, 11, 23, 15, 0, 0, 123456, tzinfo=UTC)
CHI = timezone(timedelta(hours=-6))
FILL = Fill(
    1001,
    77,
    "CON.F.US.MNQ.Z26",
    5,
    Side.SELL,
    2,
    Decimal("20001.25"),
    Decimal("-12.50"),
    Decimal("1.48"),
    T,
    voided=True,
)

SAMPLES = [
    AccountUpdate(1001, "PRAC-1001", Decimal("50000.10"), False),
    PositionUpdate(
        1001,
        "CON.F.US.MNQ.Z26",
        PositionType.SHORT,
        3,
        Decimal("20000.75"),
        T.astimezone(CHI),
        9,
        snapshot=True,
    ),
    PositionUpdate(1001, "CON.F.US.MNQ.Z26", PositionType.LONG, 1, Decimal("1"), T),
    OrderUpdate(
        1001,
        5,
        "CON.F.US.ES.Z26",
        OrderStatus.PENDING_CANCEL,
        OrderType.STOP,
        Side.BUY,
        2,
        T,
        None,
        Decimal("6000.00"),
        1,
        Decimal("6000.25"),
        "tag-1",
    ),
    OrderUpdate(
        1001,
        6,
        "CON.F.US.ES.Z26",
        OrderStatus.OPEN,
        OrderType.LIMIT,
        Side.SELL,
        1,
        T,
        Decimal("6010.5"),
    ),
    FILL,
    Fill(1001, 78, "CON.F.US.MNQ.Z26", 5, Side.BUY, 1, Decimal("1E+1"), None, Decimal("0"), T),
    Quote("CON.F.US.MNQ.Z26", T, Decimal("20000.25"), None, Decimal("20000.50")),
    Quote("CON.F.US.MNQ.Z26", T),
    Tick(),
    Tick(1001),
    InstrumentInfo("CON.F.US.MNQ.Z26", Decimal("0.25"), Decimal("0.50")),
    InstrumentMissing("CON.F.US.DA6.M26"),
    AdminCommand(1001, State.Cooldown, "calm down", "root", "CON.F.US.MNQ.Z26", 15),
    AdminCommand(1001, State.Trading, "ok", "root"),
    SelfLock(1001, State.LockedWeekly, T + timedelta(days=3), "trader"),
    SelfLock(1001, State.Cooldown, T + timedelta(minutes=30), "trader", "tilted"),
    EnforcementRejected(1001, None, 12, "Order rejected"),
    TradesSnapshot(1001, T - timedelta(days=2), (FILL, dataclasses.replace(FILL, trade_id=79))),
    TradesSnapshot(1001, T, ()),
    # what a reconciliation read back, with the trade ids applied when it asked
    AccountUpdate(1001, "PRAC-1001", Decimal("49990.00"), True, frozenset({78, 5})),
    PositionUpdate(
        1001, "CON.F.US.ES.Z26", PositionType.LONG, 1, Decimal("6000"), T, 0, True, frozenset()
    ),
    EnforcementRejected(1001, "CON.F.US.ES.Z26", None, "No open position", overtaken=True),
    TradesSnapshot(1001, T, (FILL,), frozenset({78})),
    EnforcementAccepted(1001, "CON.F.US.MNQ.Z26", 4242),
    EnforcementAccepted(1001, "CON.F.US.MNQ.Z26"),
    EnforcementAccepted(1001, "CON.F.US.MNQ.Z26", None, 7),  # the close it answers: number 7
    CloseWaiting(1001, "CON.F.US.MNQ.Z26", 7, True),  # number 7 waits for the request budget
    CloseInDoubt(1001, "CON.F.US.MNQ.Z26", 7),  # number 7 answered 503, its read failed
    EnforcementRejected(1001, "CON.F.US.ES.Z26", None, "Invalid size", seq=3),
    # a close never sent: no longer wanted once its turn in the request budget came
    EnforcementRejected(1001, "CON.F.US.ES.Z26", None, "not sent", seq=4, sent=False),
    Listing(
        1001,
        frozenset({"CON.F.US.MNQ.Z26"}),
        frozenset({7}),
        frozenset(),
        frozenset({7, 8}),
        frozenset({78}),
    ),
    Listing(
        1001,
        frozenset(),
        frozenset(),
        frozenset({"CON.F.US.ES.Z26"}),
        frozenset(),
        frozenset(),
        periodic=True,
    ),
    Listing(
        1001,
        frozenset({"CON.F.US.MNQ.Z26"}),
        frozenset(),
        frozenset({"CON.F.US.MNQ.Z26"}),
        frozenset(),
        frozenset({78}),
        began=T,  # a read that answers a close's timeout
    ),
    # the prices at a missed reset of contracts opened while the service was stopped
    PricesAtReset(1001, (PriceAt(T.astimezone(CHI), "CON.F.US.MNQ.Z26", Decimal("21300.25")),)),
]


def test_every_event_kind_has_a_sample() -> None:
    assert {type(s).__name__ for s in SAMPLES} == set(codec.EVENT_TYPES)


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: type(e).__name__)
def test_round_trip_is_exact(event: object) -> None:
    kind, data = codec.encode(event)  # type: ignore[arg-type]
    back = codec.decode(kind, data)
    assert back == event
    for f in dataclasses.fields(event):  # type: ignore[arg-type]
        a, b = getattr(event, f.name), getattr(back, f.name)
        assert type(a) is type(b), f.name  # an enum stays an enum, a Decimal a Decimal
        if isinstance(a, Decimal):
            assert str(a) == str(b), f.name  # exponent kept: 50000.10 is not 50000.1
        if isinstance(a, datetime):
            assert a.utcoffset() == b.utcoffset(), f.name


def test_encoding_is_compact_positional_json_without_trailing_defaults() -> None:
    kind, data = codec.encode(Quote("CON.F.US.MNQ.Z26", T, Decimal("20000.25")))
    assert kind == "Quote"
    assert json.loads(data) == ["CON.F.US.MNQ.Z26", T.isoformat(), "20000.25"]
    assert " " not in data


def test_a_refusal_journaled_before_sent_was_a_field_reads_back_as_sent() -> None:
    old = '[1001,"CON.F.US.ES.Z26",null,"No open position",true,null,null,false,3]'
    back = codec.decode("EnforcementRejected", old)
    assert back == EnforcementRejected(
        1001, "CON.F.US.ES.Z26", None, "No open position", overtaken=True, seq=3
    )
    assert isinstance(back, EnforcementRejected) and back.sent  # (the default)


def test_unknown_kind_and_bad_data_are_refused_with_a_message() -> None:
    with pytest.raises(ValueError, match="unknown event kind 'Nope'"):
        codec.decode("Nope", "[]")
    with pytest.raises(ValueError, match="Quote: cannot decode"):
        codec.decode("Quote", '["X", "not a time"]')


def test_compact_text_reads_back_as_the_standard_encoder_wrote_it() -> None:
    value = {
        "b": [1, "x", None, True, 1764936000.123456],
        "a": {"é": "£ 5"},
        "d": {7: "seven"},  # a key that is no string is written as the standard does
        "c": -(2**63),
    }
    assert json.loads(codec.compact(value)) == json.loads(json.dumps(value))
    text = codec.compact(value, sort_keys=True)
    assert json.loads(text) == json.loads(json.dumps(value, sort_keys=True))
    assert list(json.loads(text)) == ["a", "b", "c", "d"]
    assert " " not in codec.compact([1, {"k": 2}])  # compact: no padding


def test_an_integer_beyond_64_bits_is_written_all_the_same() -> None:
    # orjson refuses it; the standard encoder takes it, and it reads back exactly
    for value in ([2**64, "x"], {"n": -(2**70)}):
        assert json.loads(codec.compact(value)) == value
        assert json.loads(codec.compact(value, sort_keys=True)) == value
    big = EnforcementAccepted(1, "CON.F.US.MNQ.Z26", 2**65)
    assert codec.decode(*codec.encode(big)) == big
