"""A contract's mark: its latest quote (the prices a position is valued at)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal


@dataclass(slots=True)
class Mark:
    """The latest quote of a contract."""

    last: Decimal | None
    bid: Decimal | None
    ask: Decimal | None
    at: datetime
