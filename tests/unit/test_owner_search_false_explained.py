"""Found by a review: a doubted record's owner search must not stop on a false "explained":
a bystander already holding the record's size, or a listing asked before the doubt."""

from __future__ import annotations

import asyncio

from fsm_risk.adapters.payloads import PositionShapes
from fsm_risk.core.events import Side
from tests.factories import MNQ, fill, position
from tests.unit.test_owner_search_cost import ACCOUNTS, A, Reads, led_to_a, service, settled

B, C = ACCOUNTS[1], ACCOUNTS[2]


async def test_bystander_holding_the_same_size_does_not_stop_the_search() -> None:
    """B's long 3 went unread (its loss past the limit unseen end to end) because C, holding
    long 3 before the record came, was taken to explain it."""
    # A long 2 (listed) with its buy of 1 still counted; C long 3 (an earlier copy, untouched);
    # B flat opens long 3, its record first and trimmed (2 + 1 leads it to A), its trade lost.
    # C is read (a holder: candidate) and holds long 3: "explained". B is never read.
    shapes = PositionShapes()
    shapes.seen(position(MNQ, 2, "1", acc=A))
    shapes.seen(position(MNQ, 3, "1", acc=C))
    shapes.filled(fill(MNQ, Side.BUY, 1, "1", acc=A))
    svc = service(shapes, {A: 2, B: 3, C: 3}, {A: 2, C: 3})
    svc._led_astray(led_to_a(shapes, 3))
    reads = await settled(svc)
    assert B in reads.asked, f"B (long 3, the record's owner) never read; asked {reads.asked}"
    assert shapes._net(B, MNQ) == 3


class InFlight(Reads):
    """Reads as the reconciler makes them: a request once a read has begun (its listing
    taken) asks a new read; the listing is applied a few loop turns after it was taken."""

    async def _read(self, account_id: int, fut: asyncio.Future[None]) -> None:
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        for _ in range(3):
            await asyncio.sleep(0)
        before = self.shapes.mark(account_id)
        size = self.book.get(account_id, 0)  # the listing, as the gateway answers it now
        del self.pending[account_id]  # begun: a request from now on is a new read
        self.taken = [*getattr(self, "taken", []), account_id]
        for _ in range(3):
            await asyncio.sleep(0)  # its answer on its way
        if size:
            self.shapes.seen(position(MNQ, abs(size), "1", long=size > 0, acc=account_id))
        self.shapes.whole(account_id, {MNQ} if size else set(), before)
        self.in_flight -= 1
        fut.set_result(None)


async def test_a_listing_begun_before_the_doubt_does_not_count_as_the_owner_read() -> None:
    """A listing is stamped when it is asked, not when applied: one asked before the doubt
    is no evidence about the record (B's long 3 was never seen)."""
    # B's read (periodic, say) is in flight when B opens long 3: the gateway listed B flat
    # before B's fill, the listing is applied after B's trimmed record came (led to A).
    # B counts as "read since" and is never read again; the search reads the 198 others.
    shapes = PositionShapes()
    shapes.seen(position(MNQ, 2, "1", acc=A))
    shapes.filled(fill(MNQ, Side.BUY, 1, "1", acc=A))
    book = {A: 2}  # B flat when its listing is taken
    svc = service(shapes, book, {A: 2})
    reads = svc.reconciler = InFlight(shapes, book)
    b_read = reads.request(B)  # asked before B's fill
    while B not in getattr(reads, "taken", []):
        await asyncio.sleep(0)  # B's listing taken (flat), its answer on its way
    book[B] = 3  # B's fill: the gateway holds B long 3
    svc._led_astray(led_to_a(shapes, 3))  # B's long 3, its record first, its trade lost
    await b_read
    await settled(svc)
    assert reads.asked.count(B) >= 2, "B's only read is the listing taken before its fill"
    assert shapes._net(B, MNQ) == 3, "B's long 3 unseen"
