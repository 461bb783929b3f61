"""Whose is a position update that names no account, when one connection carries several:
the only account that can own it, or none guessed."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from fsm_risk.adapters.payloads import PositionShapes
from fsm_risk.core.events import Side
from tests.factories import MNQ, T0, fill, position

A, B, C = 4001, 4002, 4003
ALL = {A, B, C}
NQ = "CON.F.US.ENQ.Z26"


def trimmed(size: int, *, long: bool = True, contract: str = MNQ) -> dict[str, object]:
    return {"contractId": contract, "type": 1 if long else 2, "size": size, "averagePrice": 1.0}


def book(*held: tuple[int, int]) -> PositionShapes:
    shapes = PositionShapes()
    for n, (account_id, size) in enumerate(held):
        shapes.seen(dataclasses.replace(position(MNQ, size, "1", acc=account_id), position_id=n))
    return shapes


def test_the_only_holder_owns_a_repeat_of_its_position_or_what_its_fills_explain() -> None:
    shapes = book((A, 1))
    assert shapes.owners(trimmed(1), ALL) == ([A], True)  # its own position, a new price
    shapes.filled(fill(MNQ, Side.BUY, 1, "1", acc=A))
    assert shapes.owners(trimmed(2), ALL) == ([A], True)  # 1 + 1
    assert shapes.owners(trimmed(2, contract=NQ), ALL) == ([], False)  # nobody: refused upstream
    assert shapes.owners(trimmed(2), {B, C}) == ([], False)  # not monitored: no candidate


def test_the_only_holder_is_not_credited_with_a_size_nothing_explains() -> None:
    # B's first position in the contract arrives trimmed before B's trade: crediting it to A
    # (the only holder) would tell the engine A holds 3 when A still holds 1
    shapes = book((A, 1))
    assert shapes.owners(trimmed(3), ALL) == ([A], False)  # read over REST, not guessed
    assert shapes.owners(trimmed(1, long=False), ALL) == ([A], False)


def test_of_several_holders_the_one_whose_fills_lead_to_it() -> None:
    shapes = book((A, 1), (B, 2))
    assert shapes.owners(trimmed(7), ALL) == ([A, B], False)  # nothing tells them apart
    assert shapes.owners(trimmed(1), ALL) == ([A, B], False)  # A's size, but B could move to 1
    shapes.filled(fill(MNQ, Side.BUY, 6, "1", acc=A))
    assert shapes.owners(trimmed(7), ALL) == ([A], True)  # 1 + 6
    shapes.filled(fill(MNQ, Side.SELL, 1, "1", acc=B))
    assert shapes.owners(trimmed(1), ALL) == ([B], True)  # 2 - 1
    shapes.filled(fill(MNQ, Side.BUY, 6, "1", acc=B))  # 2 - 1 + 6
    assert shapes.owners(trimmed(7), ALL) == ([A, B], False)  # both lead there: not guessed


def test_a_fill_into_a_new_position_or_across_zero_counts() -> None:
    shapes = book((A, 1))
    shapes.filled(fill(MNQ, Side.SELL, 3, "1", acc=B))  # B opens short 3, never seen yet
    assert shapes.owners(trimmed(3, long=False), ALL) == ([B], True)
    shapes.filled(fill(MNQ, Side.SELL, 3, "1", acc=A))  # A reverses: long 1 -> short 2
    assert shapes.owners(trimmed(2, long=False), ALL) == ([A], True)


def test_the_record_that_follows_consumes_the_fills_and_voided_fills_do_not_count() -> None:
    shapes = book((A, 1), (B, 1))
    shapes.filled(fill(MNQ, Side.BUY, 1, "1", acc=A))
    shapes.filled(dataclasses.replace(fill(MNQ, Side.BUY, 1, "1", acc=B), voided=True))
    assert shapes.owners(trimmed(2), ALL) == ([A], True)
    shapes.hub(trimmed(2), A, T0 + timedelta(minutes=1))  # A's update, routed to A
    assert shapes.owners(trimmed(2), ALL) == ([A, B], False)  # no fill left to explain it


def test_a_known_position_id_names_its_account() -> None:
    shapes = book((A, 1), (B, 1))
    assert shapes.owners({**trimmed(1), "id": 1}, ALL) == ([B], True)


def test_a_record_given_by_fills_alone_remembers_the_others_it_may_be_of() -> None:
    # A's trade came after A's own position record (its fill is counted, but already shown):
    # B's add, its trade not heard yet, is led by A's fill to A. When A doubts the record,
    # the others it may be of are asked for once (to be read), and only then
    shapes = book((A, 1), (B, 1))
    shapes.filled(fill(MNQ, Side.BUY, 1, "1", acc=A))
    assert shapes.owners(trimmed(2), ALL) == ([A], True)
    doubted = shapes.others(A, MNQ)
    assert doubted is not None and (doubted.led, doubted.signed) == (A, 2)
    # B holds the contract: read first; C (its first position, its record first) only after
    assert (doubted.candidates, doubted.rest) == ((B,), (C,))
    assert shapes.others(A, MNQ) is None  # forgotten once asked
    assert shapes.others(B, MNQ) is None
    lone = book((A, 1))
    lone.filled(fill(MNQ, Side.BUY, 1, "1", acc=A))
    assert lone.owners(trimmed(2), ALL) == ([A], True)
    # the only holder: B or C opening long 2, its record ahead of its trade, is no candidate
    doubted = lone.others(A, MNQ)
    assert doubted is not None and (doubted.candidates, doubted.rest) == ((), (B, C))


def test_a_doubted_record_is_explained_by_a_listing_since_or_led_to_by_fills_heard_since() -> None:
    # A long 1 with its buy of 1 counted; B held MNQ before and is flat; C never held it.
    # A record of long 2 is led to A: B (held it) is a candidate, C is of the rest
    shapes = book((A, 1), (B, 3))
    shapes.whole(B, set(), shapes.mark(B))  # B listed flat: no longer a holder
    shapes.filled(fill(MNQ, Side.BUY, 1, "1", acc=A))
    assert shapes.owners(trimmed(2), ALL) == ([A], True)
    doubted = shapes.others(A, MNQ)
    assert doubted is not None and (doubted.candidates, doubted.rest) == ((B,), (C,))
    assert not shapes.explained(doubted)  # B's listing came before it: no evidence
    assert shapes.fills_lead(doubted) == []
    shapes.filled(fill(MNQ, Side.BUY, 2, "1", acc=C))  # C's trade, heard after its record
    assert shapes.fills_lead(doubted) == [C]
    shapes.whole(A, {MNQ}, shapes.mark(A))  # A read: still long 1 (listed as known)
    assert not shapes.explained(doubted) and shapes.read_since(A, doubted)
    before = shapes.mark(C)
    shapes.seen(position(MNQ, 2, "1", acc=C))
    shapes.whole(C, {MNQ}, before)  # C read: long 2, the record's
    assert shapes.explained(doubted)


def test_a_whole_listing_forgets_what_it_shows_stale_and_keeps_what_came_since() -> None:
    # B closed 3 (its closing record given to another account): B is remembered long 3 with
    # its sell of 3 counted, which leads any close of another account to B. A read of B that
    # lists nothing ends both; A's fill heard after the read was asked for is kept
    shapes = book((A, 1), (B, 3))
    shapes.filled(fill(MNQ, Side.SELL, 3, "1", acc=B))
    assert shapes.owners(trimmed(0), ALL) == ([B], True)
    shapes.whole(B, set(), shapes.mark(B))
    assert shapes.owners(trimmed(0), ALL) == ([A], False)  # A's close: A's alone, read
    before = shapes.mark(A)
    shapes.filled(fill(MNQ, Side.SELL, 1, "2", acc=A))  # heard while A's read runs
    shapes.seen(position(MNQ, 1, "1", acc=A))  # the listing, from before that fill
    shapes.whole(A, {MNQ}, before)
    assert shapes.owners(trimmed(0), ALL) == ([A], True)  # led by that fill, kept
    # a position recorded live while the read ran is newer than the listing: kept
    shapes = book((A, 1))
    before = shapes.mark(A)
    shapes.seen(position(MNQ, 2, "1", acc=A))
    shapes.whole(A, set(), before)
    assert shapes.owners(trimmed(2), ALL) == ([A], True)
