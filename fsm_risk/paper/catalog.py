"""The instruments the paper gateway lists: CME equity-index, crude, gold, silver, Treasury
and currency futures.

Tick sizes and tick values are the exchange's: the Treasuries' and currencies' ticks are
binary fractions of a point or tiny decimals (ZN 0.015625 at $15.625, 6J 0.0000005 at
$6.25), so one tick of one contract can be a fraction of a cent. Each root gets one
front-month contract whose id is ``CON.F.US.<CODE>.<month><yy>``; the product code is the
root unless settings map it to another code (the real gateway lists ES as ``EP``, for
example), and `/Contract/search` finds the contract by either.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

MONTH_NAMES = {
    "F": "January",
    "G": "February",
    "H": "March",
    "J": "April",
    "K": "May",
    "M": "June",
    "N": "July",
    "Q": "August",
    "U": "September",
    "V": "October",
    "X": "November",
    "Z": "December",
}


@dataclass(frozen=True, slots=True)
class Product:
    """A futures product: its root, what it is, how it ticks, and the simulator's defaults."""

    root: str
    description: str
    tick_size: Decimal
    tick_value: Decimal
    start_price: Decimal
    fee_per_side: Decimal


def _p(root: str, desc: str, tick: str, value: str, start: str, fee: str) -> Product:
    return Product(root, desc, Decimal(tick), Decimal(value), Decimal(start), Decimal(fee))


PRODUCTS: dict[str, Product] = {
    p.root: p
    for p in (
        _p("MNQ", "Micro E-mini Nasdaq-100", "0.25", "0.50", "21000.00", "0.37"),
        _p("NQ", "E-mini Nasdaq-100", "0.25", "5.00", "21000.00", "1.40"),
        _p("MES", "Micro E-mini S&P 500", "0.25", "1.25", "6000.00", "0.37"),
        _p("ES", "E-mini S&P 500", "0.25", "12.50", "6000.00", "1.40"),
        _p("MYM", "Micro E-mini Dow Jones", "1", "0.50", "44000", "0.37"),
        _p("YM", "E-mini Dow Jones", "1", "5.00", "44000", "1.40"),
        _p("M2K", "Micro E-mini Russell 2000", "0.1", "0.50", "2200.0", "0.37"),
        _p("RTY", "E-mini Russell 2000", "0.1", "5.00", "2200.0", "1.40"),
        _p("MCL", "Micro WTI Crude Oil", "0.01", "1.00", "65.00", "0.37"),
        _p("CL", "Crude Oil", "0.01", "10.00", "65.00", "1.40"),
        _p("MGC", "Micro Gold", "0.1", "1.00", "3300.0", "0.37"),
        _p("GC", "Gold", "0.1", "10.00", "3300.0", "1.40"),
        _p("SI", "Silver", "0.005", "25.00", "32.500", "1.40"),
        _p("ZT", "2-Year T-Note", "0.00390625", "7.8125", "103.50390625", "0.82"),
        _p("ZF", "5-Year T-Note", "0.0078125", "7.8125", "107.8515625", "0.82"),
        _p("ZN", "10-Year T-Note", "0.015625", "15.625", "110.515625", "0.82"),
        _p("ZB", "30-Year T-Bond", "0.03125", "31.25", "115.03125", "0.89"),
        _p("6E", "Euro FX", "0.00005", "6.25", "1.08525", "0.82"),
        _p("6J", "Japanese Yen", "0.0000005", "6.25", "0.0065035", "0.82"),
        _p("6B", "British Pound", "0.0001", "6.25", "1.2710", "0.82"),
        _p("6A", "Australian Dollar", "0.00005", "5.00", "0.65210", "0.82"),
    )
}


def on_tick(price: Decimal, tick_size: Decimal) -> bool:
    """True when ``price`` is a whole number of ticks."""
    return (price / tick_size) == (price / tick_size).to_integral_value()


@dataclass(frozen=True, slots=True)
class Contract:
    """One listed contract as the gateway describes it."""

    id: str
    root: str
    code: str
    name: str
    description: str
    tick_size: Decimal
    tick_value: Decimal
    fee_per_side: Decimal

    @property
    def symbol_id(self) -> str:
        return f"F.US.{self.code}"

    def to_api(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "tickSize": self.tick_size,
            "tickValue": self.tick_value,
            "activeContract": True,
            "symbolId": self.symbol_id,
        }


def build_contracts(
    month: str,
    product_codes: dict[str, str],
    fees: dict[str, Decimal],
) -> tuple[Contract, ...]:
    """The front-month contract of every product, for a month code such as ``Z26``."""
    month_name = MONTH_NAMES[month[0]]
    year = 2000 + int(month[1:])
    contracts = []
    for root, product in PRODUCTS.items():
        code = product_codes.get(root, root)
        contracts.append(
            Contract(
                id=f"CON.F.US.{code}.{month}",
                root=root,
                code=code,
                name=f"{root}{month}",
                description=f"{product.description}: {month_name} {year}",
                tick_size=product.tick_size,
                tick_value=product.tick_value,
                fee_per_side=fees.get(root, product.fee_per_side),
            )
        )
    return tuple(contracts)
