"""The one validating boundary: gateway payloads (REST or hub, bare or wrapped) -> core events.

Every field is checked and converted once, here: money to `Decimal` (through ``str`` so a JSON
float keeps the digits the gateway sent), times to aware UTC datetimes, enums to the core's
IntEnums. Anything missing or malformed raises `PayloadError` naming the payload kind and the
field; the caller logs it, counts it and skips it. Unknown extra fields are ignored.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from fsm_risk.adapters import shared
from fsm_risk.core.events import (
    AccountUpdate,
    Fill,
    InstrumentInfo,
    OrderStatus,
    OrderType,
    OrderUpdate,
    PositionType,
    PositionUpdate,
    Quote,
    Side,
)


class PayloadError(ValueError):
    """A gateway payload that cannot be turned into an event. Never crashes the service."""

    def __init__(self, kind: str, reason: str) -> None:
        self.kind = kind
        self.reason = reason
        super().__init__(f"malformed {kind} payload: {reason}")


def unwrap(payload: Any) -> Any:
    """Hub payloads may arrive bare, wrapped as {"action": n, "data": {...}}, or as a
    one-element list of either."""
    if isinstance(payload, list) and len(payload) == 1:
        payload = payload[0]
    if isinstance(payload, Mapping) and "data" in payload and "action" in payload:
        return payload["data"]
    return payload


def _obj(kind: str, payload: Any) -> Mapping[str, Any]:
    payload = unwrap(payload)
    if not isinstance(payload, Mapping):
        raise PayloadError(kind, f"expected an object, got {type(payload).__name__}")
    return payload


def _req(kind: str, d: Mapping[str, Any], key: str) -> Any:
    if key not in d or d[key] is None:
        raise PayloadError(kind, f"'{key}' is missing")
    return d[key]


def _int(kind: str, d: Mapping[str, Any], key: str, *, optional: bool = False) -> int:
    value = d.get(key)
    if value is None and optional:
        return 0
    value = _req(kind, d, key)
    if isinstance(value, bool) or not isinstance(value, int | str | float):
        raise PayloadError(kind, f"'{key}' is not a whole number: {value!r}")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise PayloadError(kind, f"'{key}' is not a whole number: {value!r}") from None
    if isinstance(value, float) and number != value:
        raise PayloadError(kind, f"'{key}' is not a whole number: {value!r}")
    return number


def _dec(kind: str, d: Mapping[str, Any], key: str, *, optional: bool = False) -> Decimal | None:
    value = d.get(key)
    if value is None:
        if optional:
            return None
        raise PayloadError(kind, f"'{key}' is missing")
    if isinstance(value, bool):
        raise PayloadError(kind, f"'{key}' is not a number: {value!r}")
    try:
        number = shared.number(str(value))
    except (InvalidOperation, ValueError):
        raise PayloadError(kind, f"'{key}' is not a number: {value!r}") from None
    if not number.is_finite():
        raise PayloadError(kind, f"'{key}' is not a finite number: {value!r}")
    return number


def _money(kind: str, d: Mapping[str, Any], key: str) -> Decimal:
    value = _dec(kind, d, key)
    assert value is not None
    return value


_FRACTION = re.compile(r"(\.\d{6})\d+")


def parse_time(kind: str, value: Any, key: str = "timestamp") -> datetime:
    """ISO-8601 with an offset (or Z); .NET's seven fractional digits are cut to six."""
    if not isinstance(value, str) or not value:
        raise PayloadError(kind, f"'{key}' is not a timestamp: {value!r}")
    text = _FRACTION.sub(r"\1", value.strip()).replace("Z", "+00:00")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise PayloadError(kind, f"'{key}' is not a timestamp: {value!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # the gateway speaks UTC
    return moment.astimezone(UTC)


def _bool(kind: str, d: Mapping[str, Any], key: str, *, optional: bool = False) -> bool:
    """true or false, as JSON or as a string in any case ("False"); missing or null: false
    when ``optional``. Anything else is refused: ``bool("false")`` would be true."""
    value = d.get(key)
    if value is None and optional:
        return False
    value = _req(kind, d, key)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise PayloadError(kind, f"'{key}' is not true or false: {value!r}")


def _enum(kind: str, d: Mapping[str, Any], key: str, enum: Any) -> Any:
    raw = _int(kind, d, key)
    try:
        return enum(raw)
    except ValueError:
        raise PayloadError(kind, f"'{key}' has an unknown value {raw}") from None


# --- events --------------------------------------------------------------------------------


def account(payload: Any) -> AccountUpdate:
    kind = "account"
    d = _obj(kind, payload)
    can_trade = _bool(kind, d, "canTrade")
    return AccountUpdate(
        _int(kind, d, "id"), str(d.get("name") or ""), _money(kind, d, "balance"), can_trade
    )


def position(payload: Any) -> PositionUpdate:
    kind = "position"
    d = _obj(kind, payload)
    size = _int(kind, d, "size")
    if size < 0:
        raise PayloadError(kind, f"'size' is negative: {size}")
    ptype = _enum(kind, d, "type", PositionType)
    avg = _dec(kind, d, "averagePrice", optional=size == 0) or Decimal(0)
    return PositionUpdate(
        account_id=_int(kind, d, "accountId"),
        contract_id=shared.name(str(_req(kind, d, "contractId"))),
        type=ptype,
        size=size,
        average_price=avg,
        opened_at=parse_time(kind, _req(kind, d, "creationTimestamp"), "creationTimestamp"),
        position_id=_int(kind, d, "id", optional=True),
    )


def order(payload: Any) -> OrderUpdate:
    kind = "order"
    d = _obj(kind, payload)
    size = _int(kind, d, "size")
    if size <= 0:
        raise PayloadError(kind, f"'size' is not positive: {size}")
    tag = d.get("customTag")
    return OrderUpdate(
        account_id=_int(kind, d, "accountId"),
        order_id=_int(kind, d, "id"),
        contract_id=shared.name(str(_req(kind, d, "contractId"))),
        status=_enum(kind, d, "status", OrderStatus),
        type=_enum(kind, d, "type", OrderType),
        side=_enum(kind, d, "side", Side),
        size=size,
        created_at=parse_time(kind, _req(kind, d, "creationTimestamp"), "creationTimestamp"),
        limit_price=_dec(kind, d, "limitPrice", optional=True),
        stop_price=_dec(kind, d, "stopPrice", optional=True),
        fill_volume=_int(kind, d, "fillVolume", optional=True),
        filled_price=_dec(kind, d, "filledPrice", optional=True),
        custom_tag=str(tag) if tag is not None else None,
    )


def trade(payload: Any) -> Fill:
    kind = "trade"
    d = _obj(kind, payload)
    size = _int(kind, d, "size")
    if size <= 0:
        raise PayloadError(kind, f"'size' is not positive: {size}")
    fees = _dec(kind, d, "fees", optional=True) or Decimal(0)
    if fees < 0:
        raise PayloadError(kind, f"'fees' is negative: {fees}")
    fees = shared.same(fees + _commissions(kind, d))
    return Fill(
        account_id=_int(kind, d, "accountId"),
        trade_id=_int(kind, d, "id"),
        contract_id=shared.name(str(_req(kind, d, "contractId"))),
        order_id=_int(kind, d, "orderId", optional=True),
        side=_enum(kind, d, "side", Side),
        size=size,
        price=_money(kind, d, "price"),
        pnl=_dec(kind, d, "profitAndLoss", optional=True),
        fees=fees,
        at=parse_time(kind, _req(kind, d, "creationTimestamp"), "creationTimestamp"),
        voided=_bool(kind, d, "voided", optional=True),
    )


def quote(contract_id: Any, payload: Any, received: datetime) -> Quote:
    """A GatewayQuote; quotes may carry only the fields that changed."""
    kind = "quote"
    if not isinstance(contract_id, str) or not contract_id:
        raise PayloadError(kind, f"contract id is not a string: {contract_id!r}")
    d = _obj(kind, payload)
    stamp = d.get("timestamp") or d.get("lastUpdated")
    at = parse_time(kind, stamp) if stamp else received
    last = _dec(kind, d, "lastPrice", optional=True)
    bid = _dec(kind, d, "bestBid", optional=True)
    ask = _dec(kind, d, "bestAsk", optional=True)
    if last is None and bid is None and ask is None:
        raise PayloadError(kind, "no lastPrice, bestBid or bestAsk")
    return Quote(contract_id, at, last, bid, ask)


def contract(payload: Any) -> InstrumentInfo:
    kind = "contract"
    d = _obj(kind, payload)
    size, value = _money(kind, d, "tickSize"), _money(kind, d, "tickValue")
    if size <= 0 or value <= 0:
        raise PayloadError(kind, "tick size and tick value must be positive")
    return InstrumentInfo(str(_req(kind, d, "id")), size, value)


# --- the real gateway's shapes ---------------------------------------------------------------


def _commissions(kind: str, d: Mapping[str, Any]) -> Decimal:
    """A trade may report ``commissions`` beside ``fees``: both are paid, so both count."""
    value = _dec(kind, d, "commissions", optional=True) or Decimal(0)
    if value < 0:
        raise PayloadError(kind, f"'commissions' is negative: {value}")
    return value


def subscribed(kind: str, payload: Any, account_id: int) -> dict[str, Any]:
    """A hub record of the account whose subscription delivered it: ``accountId`` is filled
    in when the record leaves it out, and a record naming another account is refused."""
    d = dict(_obj(kind, payload))
    if d.get("accountId") is None:
        d["accountId"] = account_id
    elif _int(kind, d, "accountId") != account_id:
        raise PayloadError(kind, "event for another account")
    return d


def named_account(kind: str, payload: Any) -> int | None:
    """The account a hub record names (``id`` for an account record, ``accountId`` for the
    others), None when it names none. PayloadError when the record is not an object or the
    name is not a whole number."""
    d = _obj(kind, payload)
    key = "id" if kind == "account" else "accountId"
    return None if d.get(key) is None else _int(kind, d, key)


@dataclass(frozen=True)
class Doubted:
    """A position record that names no account, given to ``led`` by its fills alone, which
    may be another account's (its trade not heard yet), or given to none (``led`` None: no
    account is proven its owner, `PositionShapes.unowned`): whose it is, is looked for by
    reading ``led`` and the accounts that may own it (``candidates``: those with fills counted
    in the contract, then those holding it, then those that held it), and the ``rest`` of the
    monitored accounts only when those explain nothing (see `PositionShapes.explained`)."""

    led: int | None
    contract: str
    signed: int
    candidates: tuple[int, ...]
    rest: tuple[int, ...]
    #: those holding the contract when it came (a close is explained by one of them, read flat)
    held: frozenset[int]
    #: the count of listings asked when it came: a listing asked after it is evidence
    since: int
    #: those already holding what it says when it came: read so again, they explain nothing
    #: (a bystander of a copier's book holding the same size is not its owner)
    same: frozenset[int] = frozenset()
    #: the count of unnamed records heard when it came: an account given a record of its own
    #: since (proven by its fills) is at its size by that record, no evidence of this one's
    heard: int = 0


class PositionShapes:
    """Hub position records as the real gateway sends them, made whole before validation.

    An incremental update may carry only ``contractId``, ``type``, ``size`` and
    ``averagePrice``: the account is the one it was routed to (see `owners`), and the id and
    opening time are those of the position already known in that contract (the one last seen
    whole or merged), or this first sighting's time when none is known (or it reversed).
    Every record, REST or hub, is remembered through `seen`.
    """

    def __init__(self) -> None:
        self._known: dict[tuple[int, str], PositionUpdate] = {}
        #: contract -> the accounts with a known open position in it
        self._holders: dict[str, set[int]] = {}
        #: contract -> account -> net size of its live fills since its last position record
        self._filled: dict[str, dict[int, int]] = {}
        #: (account, contract) -> the last record given to it by its fills alone (see `others`)
        #: (what it said, the accounts it may be of, the listings asked then): whose it may be
        #: is worked out only when it is doubted (most never are: no cost per record)
        self._inferred: dict[tuple[int, str], tuple[int, Collection[int], int, int]] = {}
        #: unnamed records heard (`owners`), and at which one each (account, contract) was
        #: last proven the owner of one by its fills
        self._records = 0
        self._proven: dict[tuple[int, str], int] = {}
        #: contract -> the accounts that held a position in it (held now or before)
        self._held: dict[str, set[int]] = {}
        #: listings of an account's positions asked (`mark`): how many, the count at each
        #: account's last asked, and at its last applied whole (a listing asked before a
        #: doubted record came, answered after, says nothing of it)
        self._listings = 0
        self._marked: dict[int, int] = {}
        self._listed: dict[int, int] = {}

    def owners(self, payload: Any, accounts: Collection[int]) -> tuple[list[int], bool]:
        """The accounts of ``accounts`` a position record that names none can belong to, and
        whether one of them is proven its owner (then it is the only one listed).

        The candidates are those holding a position in its contract and those with fills in it
        since their last position record. One is proven when the record carries the id of its
        position, when its fills (and no other candidate's) lead exactly to the record's size
        and side, or when it is the only candidate and the record repeats the size and side it
        already holds with no fill pending. Being the only candidate proves nothing by itself:
        another account's first position in the contract may arrive before its trade, and
        crediting it to the holder would misstate what the holder has."""
        kind = "position"
        d = _obj(kind, payload)
        contract = str(_req(kind, d, "contractId"))
        self._records += 1
        filled = self._filled.get(contract, {})
        candidates = sorted(a for a in {*self._holders.get(contract, ()), *filled} if a in accounts)
        if not candidates:
            return [], False
        if d.get("id") is not None:
            pid = _int(kind, d, "id")
            by_id = [
                a
                for a in candidates
                if (known := self._known.get((a, contract))) and known.position_id == pid
            ]
            if len(by_id) == 1:
                return by_id, True
        size = _int(kind, d, "size")
        side = _enum(kind, d, "type", PositionType)
        signed = 0 if size == 0 else size if side is PositionType.LONG else -size
        led = [
            a for a in candidates if filled.get(a) and self._net(a, contract) + filled[a] == signed
        ]
        if len(led) == 1:
            self._proven[(led[0], contract)] = self._records
            if len(accounts) > 1:
                self._inferred[(led[0], contract)] = (
                    signed, accounts, self._listings, self._records
                )  # fmt: skip
            else:
                self._inferred.pop((led[0], contract), None)
            return led, True
        if len(candidates) == 1 and not filled and self._net(candidates[0], contract) == signed:
            return candidates, True  # the holder's own position, repeated (a new price)
        return candidates, False

    def unowned(self, payload: Any, accounts: Collection[int]) -> Doubted:
        """A position record that names no account, of which no account of ``accounts`` is
        proven the owner (`owners`: several may be, or none holds its contract), as a doubted
        record given to none: whose it is, is looked for as for one given to an account by its
        fills alone (`others`), the accounts that may own it first, then the others a few at a
        time. PayloadError when it does not say its contract, size and side."""
        kind = "position"
        d = _obj(kind, payload)
        contract = shared.name(str(_req(kind, d, "contractId")))
        size = _int(kind, d, "size")
        if size < 0:
            raise PayloadError(kind, f"'size' is negative: {size}")
        side = _enum(kind, d, "type", PositionType)
        signed = 0 if size == 0 else size if side is PositionType.LONG else -size
        return self._doubted(None, contract, signed, accounts, self._listings, self._records)

    def _doubted(
        self,
        led: int | None,
        contract: str,
        signed: int,
        accounts: Collection[int],
        since: int,
        heard: int = 0,
    ) -> Doubted:
        filled = self._filled.get(contract, {})
        holders = self._holders.get(contract, set())
        first = [
            *sorted(a for a in filled if a != led),
            *sorted(a for a in holders if a != led and a not in filled),
            *sorted(
                a
                for a in self._held.get(contract, ())
                if a != led and a not in filled and a not in holders
            ),
        ]
        candidates = tuple(a for a in first if a in accounts)
        # any other account may be the owner: one opening its first position in the contract,
        # its record ahead of its trade, is no candidate
        first_read = {led, *candidates}
        rest = tuple(sorted(a for a in accounts if a not in first_read))
        same = frozenset(a for a in holders if a != led and self._net(a, contract) == signed)
        return Doubted(
            led, contract, signed, candidates, rest, frozenset(holders), since, same, heard
        )

    def others(self, account_id: int, contract_id: str) -> Doubted | None:
        """The last record in ``contract_id`` given to ``account_id`` by its fills alone
        (forgotten once asked), None when there is none. A fill counted there may be one whose
        position record came before it: when that account then doubts the record, the record
        may be another's (its trade not heard yet), and whose it is, is looked for."""
        found = self._inferred.pop((account_id, contract_id), None)
        if found is None:
            return None
        signed, accounts, since, heard = found
        doubted = self._doubted(account_id, contract_id, signed, accounts, since, heard)
        return doubted if doubted.candidates or doubted.rest else None

    def explained(self, doubted: Doubted) -> bool:
        """Whether an account listed whole since ``doubted`` came explains it: it holds what
        the record says, or (a close) it held the contract then and is flat now."""
        for account_id, at in self._listed.items():
            if at <= doubted.since or account_id in doubted.same:
                continue
            if self._proven.get((account_id, doubted.contract), 0) > doubted.heard:
                continue  # at its size by a record of its own heard since
            net = self._net(account_id, doubted.contract)
            if net == doubted.signed and (
                net != 0 or account_id in doubted.held or account_id == doubted.led
            ):
                return True
        return False

    def read_since(self, account_id: int, doubted: Doubted) -> bool:
        """Whether the account's positions were listed whole since ``doubted`` came."""
        return self._listed.get(account_id, 0) > doubted.since

    def fills_lead(self, doubted: Doubted) -> list[int]:
        """The accounts other than ``doubted.led`` whose fills counted now (heard since, say:
        the owner's trade after its record) lead exactly to what the record says."""
        filled = self._filled.get(doubted.contract, {})
        return sorted(
            a
            for a, n in filled.items()
            if a != doubted.led and n and self._net(a, doubted.contract) + n == doubted.signed
        )

    def _net(self, account_id: int, contract_id: str) -> int:
        known = self._known.get((account_id, contract_id))
        if known is None:
            return 0
        return known.size if known.type is PositionType.LONG else -known.size

    def filled(self, fill: Fill) -> None:
        """A live fill: the position record that follows it should account for it."""
        if fill.voided:
            return
        net = self._filled.setdefault(fill.contract_id, {})
        signed = fill.size if fill.side is Side.BUY else -fill.size
        net[fill.account_id] = net.get(fill.account_id, 0) + signed

    def hub(self, payload: Any, account_id: int, received: datetime) -> PositionUpdate:
        kind = "position"
        d = subscribed(kind, payload, account_id)
        known = self._known.get((account_id, str(_req(kind, d, "contractId"))))
        same = known is not None and d.get("type") == int(known.type)
        if d.get("creationTimestamp") is None:
            opened = known.opened_at if known is not None and same else received
            d["creationTimestamp"] = opened.isoformat()
        if d.get("id") is None and known is not None and same:
            d["id"] = known.position_id
        event = position(d)
        if event.size and event.average_price <= 0:
            # a futures price is positive: 0 is a field left at its default, and valued it
            # would make the open P&L the whole notional (the loss limits blind)
            raise PayloadError(kind, f"'averagePrice' {event.average_price} of an open position")
        event = self.seen(event)
        filled = self._filled.get(event.contract_id)
        if filled is not None and filled.pop(account_id, None) is not None and not filled:
            del self._filled[event.contract_id]
        return event

    def listed(self, payload: Any) -> PositionUpdate:
        """A position a REST listing gives. One without its average price keeps the price
        last known for it when that price cannot have changed: the same side, no larger (a
        reduce leaves the average as it was). Otherwise it is refused as any record is: a
        position of unknown price is never taken as no position."""
        kind = "position"
        d = _obj(kind, payload)
        if d.get("averagePrice") is None and d.get("size") not in (None, 0):
            account_id = _int(kind, d, "accountId")
            contract = shared.name(str(_req(kind, d, "contractId")))
            known = self._known.get((account_id, contract))
            if (
                known is not None
                and d.get("type") == int(known.type)
                and 0 < _int(kind, d, "size") <= known.size
            ):
                d = {**d, "averagePrice": str(known.average_price)}
        return position(d)

    def mark(self, account_id: int) -> tuple[dict[str, PositionUpdate], dict[str, int]]:
        """What is remembered of ``account_id`` as a listing of its positions is asked for:
        its positions and its fills counted since their records (see `whole`)."""
        self._listings += 1
        self._marked[account_id] = self._listings
        known = {c: p for (a, c), p in self._known.items() if a == account_id}
        filled = {c: n[account_id] for c, n in self._filled.items() if account_id in n}
        return known, filled

    def whole(
        self,
        account_id: int,
        listed: Collection[str],
        before: tuple[dict[str, PositionUpdate], dict[str, int]],
    ) -> None:
        """A whole listing of ``account_id``'s positions, asked for when ``before`` was taken
        (`mark`), was applied: a position it does not list is not held, and the fills heard
        before it was asked for are in what it lists, so neither is left to lead a record
        that names no account (a fill counted after its record, or a closing record given to
        another account, would lead the next record of another account here). What a live
        record or fill changed meanwhile is newer than the listing, and kept."""
        known, filled = before
        self._listed[account_id] = self._marked.pop(account_id, self._listings)
        for contract, position in known.items():
            if contract not in listed and self._known.get((account_id, contract)) is position:
                self._forget(account_id, contract)
        for contract, net in filled.items():
            counted = self._filled.get(contract)
            if counted is not None and counted.get(account_id) == net:
                del counted[account_id]
                if not counted:
                    del self._filled[contract]

    def seen(self, event: PositionUpdate) -> PositionUpdate:
        if event.size == 0 or event.type is PositionType.UNDEFINED:
            self._forget(event.account_id, event.contract_id)
        else:
            self._known[(event.account_id, event.contract_id)] = event
            self._holders.setdefault(event.contract_id, set()).add(event.account_id)
            self._held.setdefault(event.contract_id, set()).add(event.account_id)
        return event

    def _forget(self, account_id: int, contract_id: str) -> None:
        self._known.pop((account_id, contract_id), None)
        held = self._holders.get(contract_id)
        if held is not None:
            held.discard(account_id)
            if not held:
                del self._holders[contract_id]


# --- bounds: what parses but cannot be true -------------------------------------------------

#: ids, sizes and counts are stored as signed 64-bit integers
INT_MIN, INT_MAX = -(2**63), 2**63 - 1
#: no contract trades at or beyond this price (in either sign); refuses corrupted marks
PRICE_LIMIT = Decimal(10) ** 7
#: no balance, profit or fee reaches this amount (in either sign)
MONEY_LIMIT = Decimal(10) ** 12
#: how far ahead of our own clock a gateway stamp may be (clock skew), no more
FUTURE_SKEW_SECONDS = 60


def bounded(event: Any, received: datetime) -> Any:
    """Refuse (PayloadError) an event whose numbers are out of range, whose prices are
    implausible or whose time is too far ahead of ``received``; return it unchanged otherwise.
    Checked after the shape, so the gateway's field names may change without touching this."""
    kind = _KINDS.get(type(event), type(event).__name__.lower())
    for name in _INT_FIELDS.get(type(event), ()):
        value = getattr(event, name)
        if value is not None and not INT_MIN <= value <= INT_MAX:
            raise PayloadError(kind, f"'{name}' is out of range: {value}")
    for name in _PRICE_FIELDS.get(type(event), ()):
        value = getattr(event, name)
        if value is not None and not -PRICE_LIMIT < value < PRICE_LIMIT:
            raise PayloadError(kind, f"'{name}' is not a plausible price: {_short(value)}")
    for name in _MONEY_FIELDS.get(type(event), ()):
        value = getattr(event, name)
        if value is not None and not -MONEY_LIMIT < value < MONEY_LIMIT:
            raise PayloadError(kind, f"'{name}' is not a plausible amount: {_short(value)}")
    for name in _TIME_FIELDS.get(type(event), ()):
        at = getattr(event, name)
        if (at - received).total_seconds() > FUTURE_SKEW_SECONDS:
            raise PayloadError(kind, f"'{name}' is in the future: {at.isoformat()}")
    return event


def _short(value: Decimal) -> str:
    text = str(value)
    return text if len(text) <= 32 else f"{text[:29]}..."


_KINDS: dict[type, str] = {
    AccountUpdate: "account",
    PositionUpdate: "position",
    OrderUpdate: "order",
    Fill: "trade",
    Quote: "quote",
    InstrumentInfo: "contract",
}
_INT_FIELDS: dict[type, tuple[str, ...]] = {
    AccountUpdate: ("account_id",),
    PositionUpdate: ("account_id", "size", "position_id"),
    OrderUpdate: ("account_id", "order_id", "size", "fill_volume"),
    Fill: ("account_id", "trade_id", "order_id", "size"),
}
_PRICE_FIELDS: dict[type, tuple[str, ...]] = {
    PositionUpdate: ("average_price",),
    OrderUpdate: ("limit_price", "stop_price", "filled_price"),
    Fill: ("price",),
    Quote: ("last", "bid", "ask"),
    InstrumentInfo: ("tick_size", "tick_value"),
}
_MONEY_FIELDS: dict[type, tuple[str, ...]] = {
    AccountUpdate: ("balance",),
    Fill: ("pnl", "fees"),
}
_TIME_FIELDS: dict[type, tuple[str, ...]] = {
    PositionUpdate: ("opened_at",),
    OrderUpdate: ("created_at",),
    Fill: ("at",),
    Quote: ("at",),
}
