"""The closes the service sent, per contract: which orders could be one of them.

Our close's order is recognised among the order events (the gateway's close names none), and
may be recognised late, or never (its record lost, its fill first). Each close sent is kept
(when it went, the size it asked, the side it closes) with its order once recognised, so that
an order not known as ours can be weighed against all of them: an order whose first record
came before any of them was sent, or of a size none asked, is not one of ours (beside a close
whose order is known already, another of its shape may still be it: known by shape). A close
sent before this process started is not known here: while one is in flight the question is
not answered (`complete`), and the order is taken as ours. Runtime only, bounded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from fsm_risk.core.contract import ContractModel
from fsm_risk.core.events import Side

#: closes remembered per contract (a late record or fill comes within moments)
KEEP = 16


@dataclass(slots=True)
class SentClose:
    """One close of ours: its number, when it went (our clock), the size asked (0: the whole
    position, sized by the gateway as it executes), its side, and its order once known."""

    seq: int
    at: datetime
    size: int
    side: Side
    order: int | None = None


class SentCloses:
    """The closes sent lately, by (account, contract)."""

    __slots__ = ("_sent",)

    def __init__(self) -> None:
        self._sent: dict[tuple[int, str], list[SentClose]] = {}

    def sent(self, cm: ContractModel, now: datetime) -> None:
        """The close just put in flight for ``cm`` (its size, side and number set)."""
        assert cm.close_side is not None
        kept = self._sent.setdefault((cm.account_id, cm.contract_id), [])
        kept.append(SentClose(cm.close_seq, now, cm.close_size, cm.close_side))
        del kept[:-KEEP]

    def complete(self, cm: ContractModel) -> list[SentClose] | None:
        """The closes sent for ``cm``, the order of the one in flight noted if recognised; None
        when they are not all known here (none is, or the one in flight went before a start)."""
        kept = self._sent.get((cm.account_id, cm.contract_id))
        if not kept:
            return None
        if cm.close_in_flight:
            now = next((c for c in kept if c.seq == cm.close_seq), None)
            if now is None:
                return None
            if now.order is None:
                now.order = cm.close_order
        return kept

    def could_be(
        self, cm: ContractModel, order_id: int, side: Side, size: int, since: datetime | None
    ) -> bool:
        """Whether an order not known as ours (``side``; ``size``: its size, or what one fill
        of it took; ``since``: when its first record came, None if none came yet) could be a
        close of ours: one sent on that side no later than that record, that asked for that
        size (a reduce fills at most what it asked; a close of the whole position may be of
        any size). Its order known as another does not rule it out: that one was recognised by
        its shape only (the gateway's close names no order), and a market order of his of the
        same size and side looks the same. Taken as ours when not all known."""
        kept = self.complete(cm)
        if kept is None:
            return True
        return any(
            c.side is side and (since is None or c.at <= since) and (c.size == 0 or c.size >= size)
            for c in kept
        )
