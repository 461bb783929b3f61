"""The quote guard bands: the open-P&L interval inside which no quote rule can act.

Each quote rule promises a band on the account's open P&L (and one on a position's) inside
which a quote can neither make it fire nor change its memory; the engine skips the quote
rules while the open P&L stays inside the intersection of those bands. A rule that promises
nothing (None) makes every quote evaluated. One function, `intersect`, makes every band.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal

from fsm_risk.core.models import AccountModel, Position
from fsm_risk.core.rulebook import RuleBook
from fsm_risk.rules.base import UNBOUNDED, Rule

#: an empty band: nothing is promised, every quote rule is evaluated
EVALUATE: tuple[Decimal, Decimal] = (Decimal("Infinity"), Decimal("-Infinity"))
_LOWEST, _HIGHEST = Decimal("-Infinity"), Decimal("Infinity")


def intersect(bands: Iterable[tuple[Decimal, Decimal] | None]) -> tuple[Decimal, Decimal]:
    """The intersection of bands; `EVALUATE` as soon as one of them promises nothing (None:
    the bands after it are not asked)."""
    low, high = _LOWEST, _HIGHEST
    for band in bands:
        if band is None:
            return EVALUATE
        if band is UNBOUNDED:
            continue
        if band[0] > low:
            low = band[0]
        if band[1] < high:
            high = band[1]
    return low, high


class Bands:
    """The bands of one engine's quote rules (read from its `RuleBook`)."""

    def __init__(self, book: RuleBook) -> None:
        self.book = book

    def account(self, acct: AccountModel) -> tuple[Decimal, Decimal]:
        """The intersection of the quote rules' bands on the account's open P&L (each rule's
        own band is kept in ``acct.bands``, valid while ``acct.band`` is set)."""
        acct.bands = [rule.quote_band(acct) for rule in self.book.quote]
        return self.banded(acct)

    def banded(self, acct: AccountModel) -> tuple[Decimal, Decimal]:
        """Set ``acct.band`` from ``acct.bands``, and ``acct.rest``, the intersection of every
        band but the trailing rule's."""
        bands = acct.bands
        i = self.book.trailing
        if i is None:
            band = acct.band = intersect(bands)
            return band
        rest = acct.rest = intersect([*bands[:i], *bands[i + 1 :]])
        own = bands[i]
        if own is None or rest is EVALUATE:
            band = acct.band = EVALUATE
        else:
            band = acct.band = (max(rest[0], own[0]), min(rest[1], own[1]))
        return band

    def reband(self, acct: AccountModel, crossed: Sequence[Rule]) -> None:
        """Ask only the ``crossed`` rules for their band again and intersect with the rest.

        Exact because a rule's band depends on the account's state apart from its open P&L,
        and on the rule's own memory: a quote that changed neither state (no verdict) nor
        the memory of a rule it did not reach (only reached rules observe) leaves every
        other rule's band as it was."""
        bands = acct.bands
        for i, rule in enumerate(self.book.quote):
            if rule in crossed:
                bands[i] = rule.quote_band(acct)
        self.banded(acct)

    def position(self, acct: AccountModel, pos: Position) -> tuple[Decimal, Decimal]:
        """The intersection of the quote rules' bands on one position's open P&L."""
        return intersect(rule.position_band(acct, pos) for rule in self.book.quote)

    def crossed(self, acct: AccountModel, pos: Position | None) -> list[Rule]:
        """Outside the intersection: the quote rules whose own band the quote crossed (the
        account bands as asked last, in ``acct.bands``)."""
        out = []
        upnl = acct.open_upnl
        # inside the position's intersection, no rule's position band was crossed
        check_pos = pos is not None and (
            pos.band is None or not pos.band[0] < pos.upnl < pos.band[1]
        )
        for rule, band in zip(self.book.quote, acct.bands, strict=True):
            if band is None or not band[0] < upnl < band[1]:
                out.append(rule)
                continue
            if check_pos:
                assert pos is not None
                pband = rule.position_band(acct, pos)
                if pband is None or not pband[0] < pos.upnl < pband[1]:
                    out.append(rule)
        return out
