"""Found by a review of 8705b42 (`core.waited`): a quote older than a mark moved earlier in the
same batch was merged into a newer one (a false loss, a false flatten)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D

from fsm_risk.core.events import Quote, Tick
from fsm_risk.core.states import State
from fsm_risk.core.waited import waited
from tests.factories import MNQ, T0
from tests.unit.test_quotes_waited_together import _driven, _left

S = timedelta(seconds=1)
AT = T0 + timedelta(minutes=1)


def test_a_quote_older_than_a_mark_moved_earlier_in_the_batch_is_never_merged() -> None:
    """Long 1 MNQ at 21,000 (liquidation: valued on the bid), daily loss limit 1,000.
    One batch: a bid at +2 s; a tick; a late bid stamped +1 s (the engine ignores it: the mark
    is at +2 s by then); a print at +3 s. The late bid is older than the mark the batch's own
    first quote left, but not older than the mark before the batch, so `waited` merges it into
    the print, and the engine is handed a bid of 19,000 stamped +3 s."""
    quotes: list[Quote | Tick] = [
        Quote(MNQ, AT + 2 * S, bid=D("20990")),
        Tick(),
        Quote(MNQ, AT + S, bid=D("19000")),  # older than the mark by then: ignored one by one
        Quote(MNQ, AT + 3 * S, last=D("20995")),
    ]
    one_by_one = _left(_driven(AT), quotes)
    d = _driven(AT)
    together = waited(quotes, d.engine.marks)
    merged = _left(d, together)
    assert one_by_one[1:] == (D("-20"), State.Trading)
    assert merged == one_by_one
