"""Instruments: a contract's tick size and value, learned from the gateway or the defaults,
and a contract id's root (``CON.F.US.MNQ.Z26`` -> ``MNQ``, ``CON.F.US.ENQ.Z26`` -> ``NQ``)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType


@dataclass(frozen=True, slots=True)
class Instrument:
    root: str
    tick_size: Decimal
    tick_value: Decimal


#: Tick size and value per symbol root (the exchange's), for offline use and tests.
DEFAULT_INSTRUMENTS: dict[str, Instrument] = {
    root: Instrument(root, Decimal(size), Decimal(value))
    for root, size, value in (
        ("MNQ", "0.25", "0.50"),
        ("NQ", "0.25", "5"),
        ("MES", "0.25", "1.25"),
        ("ES", "0.25", "12.50"),
        ("MYM", "1", "0.50"),
        ("YM", "1", "5"),
        ("M2K", "0.1", "0.50"),
        ("RTY", "0.1", "5"),
        ("MCL", "0.01", "1"),
        ("CL", "0.01", "10"),
        ("MGC", "0.1", "1"),
        ("GC", "0.1", "10"),
        # Treasuries: a tick is a fraction of 1/32 of a point, worth a fraction of a cent
        # more than whole cents (ZN: 1/64 at $15.625)
        ("ZT", "0.00390625", "7.8125"),
        ("ZF", "0.0078125", "7.8125"),
        ("ZN", "0.015625", "15.625"),
        ("ZB", "0.03125", "31.25"),
        # currencies
        ("6E", "0.00005", "6.25"),
        ("6J", "0.0000005", "6.25"),
        ("6B", "0.0001", "6.25"),
    )
}


#: The product codes the ProjectX gateway writes in contract ids where they differ from the
#: exchange's symbol root, as the gateway lists them: ``CON.F.US.ENQ.Z26`` is an NQ contract
#: and ``CON.F.US.EP.Z26`` an ES one. Limits, locks and blocks name the root a trader knows
#: (NQ, ES, CL); every contract id is read through this table, so they hold on these ids too.
PRODUCT_CODES = MappingProxyType(
    {
        # equity indices
        "EP": "ES",
        "ENQ": "NQ",
        # energy
        "CLE": "CL",
        "MCLE": "MCL",
        "NQM": "QM",
        "NGE": "NG",
        "NQG": "QG",
        "HOE": "HO",
        "RBE": "RB",
        # metals
        "GCE": "GC",
        "SIE": "SI",
        "CPE": "HG",
        "PLE": "PL",
        # currencies
        "EU6": "6E",
        "BP6": "6B",
        "JY6": "6J",
        "CA6": "6C",
        "DA6": "6A",
        "SF6": "6S",
        "NE6": "6N",
        "MX6": "6M",
        "EEU": "E7",
        # interest rates
        "USA": "ZB",
        "TYA": "ZN",
        "FVA": "ZF",
        "TUA": "ZT",
        "TNA": "TN",
        "ULA": "UB",
        # agriculture, livestock, crypto
        "ZCE": "ZC",
        "ZSE": "ZS",
        "ZWA": "ZW",
        "ZLE": "ZL",
        "ZME": "ZM",
        "GLE": "LE",
        "GMET": "MET",
    }
)


#: The symbol roots the service knows: the defaults', the product codes' and a few more roots
#: the exchanges list. A root not here may still be real (settings naming one are accepted, and
#: the root is named so that a typo is seen).
KNOWN_ROOTS = frozenset(
    {
        *DEFAULT_INSTRUMENTS,
        *PRODUCT_CODES.values(),
        *("NKD", "SIL", "MHG", "M6A", "M6B", "M6E", "HE", "MBT"),
    }
)


def known_root(name: str) -> bool:
    """Whether ``name`` (any case) is a root or a gateway product code the service knows."""
    upper = name.strip().upper()
    return upper in KNOWN_ROOTS or upper in PRODUCT_CODES


def root_named(name: str) -> str:
    """A symbol root as the exchange names it, from a root or a gateway product code in any
    case: ``enq`` -> ``NQ``, ``MNQ`` -> ``MNQ``."""
    upper = name.strip().upper()
    return PRODUCT_CODES.get(upper, upper)


#: a root's product code in the gateway's contract ids, where the two differ (ES -> EP)
GATEWAY_CODES = MappingProxyType({root: code for code, root in PRODUCT_CODES.items()})


def gateway_id(contract_id: str) -> str:
    """A full contract id as the gateway writes it: a root where its product code belongs is
    that code (``CON.F.US.ES.H27`` -> ``CON.F.US.EP.H27``); any other id as it is."""
    parts = contract_id.split(".")
    if len(parts) >= 5 and parts[3] in GATEWAY_CODES:
        parts[3] = GATEWAY_CODES[parts[3]]
    return ".".join(parts)


def root_of(contract_id: str) -> str:
    """`CON.F.US.MNQ.Z26` -> `MNQ` (the 4th part), `CON.F.US.ENQ.Z26` -> `NQ` (a product
    code, read through `PRODUCT_CODES`). Anything else is its own root."""
    parts = contract_id.split(".")
    return root_named(parts[3] if len(parts) >= 5 else contract_id)


#: the futures month codes, January to December
MONTH_CODES = "FGHJKMNQUVXZ"


def month_order(contract_id: str) -> tuple[str, int, int]:
    """A contract id's product, then its expiry (year, month): ``CON.F.US.MNQ.Z26`` sorts
    before ``CON.F.US.MNQ.H27`` (the id's text puts H27 first). An id without a month code
    sorts by its text alone."""
    head, _, last = contract_id.rpartition(".")
    if head and len(last) == 3 and last[0] in MONTH_CODES and last[1:].isdigit():
        return head, 2000 + int(last[1:]), MONTH_CODES.index(last[0])
    return contract_id, 0, 0


def choices(known: Iterable[str], mine: Iterable[str], typed: str, most: int = 8) -> list[str]:
    """The full ids to name when ``typed`` names no contract: the account's own first, then
    those of the root the text begins with (``MNQ H7``: every MNQ month, nearer first), then
    the rest, at most ``most`` (the gateway's whole list is known: a hundred ids or more)."""
    compact, own = re.sub(r"[^A-Z0-9]", "", typed.upper()), set(mine)

    def rank(c: str) -> tuple[int, tuple[str, int, int], str]:
        parts = c.split(".")
        code = parts[3] if len(parts) >= 5 else c
        near = bool(compact) and (compact.startswith(code) or compact.startswith(root_of(c)))
        return (0 if c in own else 1 if near else 2), month_order(c), c

    return sorted(known, key=rank)[:most]


def covers(key: str, contract_id: str) -> bool:
    """Whether a contract scope ``key`` (a full id, or a symbol root named by an admin)
    covers this contract id."""
    return contract_id == key or ("." not in key and root_of(contract_id) == root_named(key))


class InstrumentBook:
    """Contract id -> instrument: gateway data first, then the defaults by root."""

    def __init__(self, defaults: dict[str, Instrument] | None = None) -> None:
        self._by_root = dict(DEFAULT_INSTRUMENTS if defaults is None else defaults)
        self._by_contract: dict[str, Instrument] = {}

    def learn(self, contract_id: str, tick_size: Decimal, tick_value: Decimal) -> None:
        if tick_size <= 0 or tick_value <= 0:
            raise ValueError(f"{contract_id}: tick size and value must be positive")
        self._by_contract[contract_id] = Instrument(root_of(contract_id), tick_size, tick_value)

    def learned(self) -> list[str]:
        """The contract ids the gateway described."""
        return list(self._by_contract)

    def roots(self) -> set[str]:
        """Every symbol root this book knows (the defaults and the learned contracts')."""
        return {*self._by_root, *(i.root for i in self._by_contract.values())}

    def get(self, contract_id: str) -> Instrument | None:
        inst = self._by_contract.get(contract_id)
        if inst is None:
            inst = self._by_root.get(root_of(contract_id))
            if inst is not None:
                self._by_contract[contract_id] = inst
        return inst
