"""What one doubted position record costs in reads on one connection serving 200 accounts (a
trade copier's book): a record that names no account, given to A by A's fills alone, which A's
fills do not make. The service looks for whose it is (`Service._led_astray`), reading the
accounts it may be of, not every account of the login, and further accounts a few at a time,
only while the ones read explain nothing.

Driven through the service's own methods with its broker's owner inference (`PositionShapes`)
and a reconciler that reads a fixed book into it as the broker's whole listing does; every
read is counted."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from fsm_risk.adapters.payloads import PositionShapes
from fsm_risk.core.events import Side
from fsm_risk.service import Service
from tests.factories import MNQ, T0, fill, position

ACCOUNTS = list(range(5001, 5201))  # 200 accounts on the login
A, B = ACCOUNTS[0], ACCOUNTS[1]


def trimmed(size: int) -> dict[str, object]:
    return {"contractId": MNQ, "type": 1, "size": size, "averagePrice": 1.0}


class Reads:
    """The reconciler: coalesced reads that each list one account's positions from ``book``
    (account -> signed MNQ size) into the owner inference, a few loop turns after asked."""

    def __init__(self, shapes: PositionShapes, book: dict[int, int]) -> None:
        self.shapes, self.book = shapes, book
        self.asked: list[int] = []
        self.pending: dict[int, asyncio.Future[None]] = {}
        self.running: set[asyncio.Task[None]] = set()
        self.in_flight = self.most = 0

    def start(self) -> None:
        pass

    def request(self, account_id: int, *args: Any, **kwargs: Any) -> asyncio.Future[None]:
        if account_id in self.pending:
            return self.pending[account_id]
        fut = self.pending[account_id] = asyncio.get_running_loop().create_future()
        self.asked.append(account_id)
        task = asyncio.ensure_future(self._read(account_id, fut))
        self.running.add(task)
        task.add_done_callback(self.running.discard)
        return fut

    async def _read(self, account_id: int, fut: asyncio.Future[None]) -> None:
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        for _ in range(3):
            await asyncio.sleep(0)
        before = self.shapes.mark(account_id)
        size = self.book.get(account_id, 0)
        if size:
            self.shapes.seen(position(MNQ, abs(size), "1", long=size > 0, acc=account_id))
        self.shapes.whole(account_id, {MNQ} if size else set(), before)
        del self.pending[account_id]
        self.in_flight -= 1
        fut.set_result(None)


def service(shapes: PositionShapes, book: dict[int, int], net: dict[int, int]) -> Service:
    svc = Service.__new__(Service)  # the methods under test use only what is set here
    svc.engine = SimpleNamespace(  # type: ignore[assignment]
        accounts={a: SimpleNamespace(net={MNQ: net[a]} if a in net else {}) for a in ACCOUNTS}
    )
    svc.broker = SimpleNamespace(positions=shapes)  # type: ignore[assignment]
    svc.reconciler = Reads(shapes, book)  # type: ignore[assignment]
    svc._tasks = set()
    return svc


async def settled(svc: Service) -> Reads:
    reads: Reads = svc.reconciler  # type: ignore[assignment]
    for _ in range(10_000):
        if not svc._tasks and not reads.running:
            return reads
        await asyncio.sleep(0)
    raise AssertionError(f"still reading: {len(svc._tasks)} task(s), {reads.asked[-5:]}")


def led_to_a(shapes: PositionShapes, size: int) -> Any:
    """B's record (``size`` long, trimmed) is led to A by A's fill still counted."""
    assert shapes.owners(trimmed(size), ACCOUNTS) == ([A], True)
    return shapes.hub(trimmed(size), A, T0)


async def test_b_partial_exit_led_to_a_reads_a_and_b_not_the_200_accounts() -> None:
    # A long 2 (listed) with its sell of 1 still counted; B long 3. B exits 2 (long 1), its
    # record first and trimmed: 2 - 1 leads it to A
    shapes = PositionShapes()
    shapes.seen(position(MNQ, 2, "1", acc=A))
    shapes.seen(position(MNQ, 3, "1", acc=B))
    shapes.filled(fill(MNQ, Side.SELL, 1, "1", acc=A))
    svc = service(shapes, {A: 2, B: 1}, {A: 2, B: 3})
    svc._led_astray(led_to_a(shapes, 1))
    reads = await settled(svc)
    assert sorted(reads.asked) == [A, B], (
        f"one doubted record read {len(reads.asked)} of {len(ACCOUNTS)} accounts"
    )
    assert shapes._net(B, MNQ) == 1 and shapes._net(A, MNQ) == 2


async def test_b_first_position_led_to_a_reads_b_once_its_trade_is_heard() -> None:
    # A long 2 (listed) with its buy of 1 still counted; B flat, no candidate. B opens long 3,
    # its record first and trimmed: 2 + 1 leads it to A. B's trade is heard right after
    shapes = PositionShapes()
    shapes.seen(position(MNQ, 2, "1", acc=A))
    shapes.filled(fill(MNQ, Side.BUY, 1, "1", acc=A))
    svc = service(shapes, {A: 2, B: 3}, {A: 2})
    svc._led_astray(led_to_a(shapes, 3))
    shapes.filled(fill(MNQ, Side.BUY, 3, "1", acc=B))
    reads = await settled(svc)
    assert sorted(reads.asked) == [A, B], (
        f"one doubted record read {len(reads.asked)} of {len(ACCOUNTS)} accounts"
    )
    assert shapes._net(B, MNQ) == 3


async def test_a_record_nothing_explains_reads_the_others_a_few_at_a_time_until_found() -> None:
    # as above, but the owner's trade is never heard: the 199 others may be its owner. They
    # are read 8 at a time after A, and no further once the owner (the 150th) is found
    owner = ACCOUNTS[150]
    shapes = PositionShapes()
    shapes.seen(position(MNQ, 2, "1", acc=A))
    shapes.filled(fill(MNQ, Side.BUY, 1, "1", acc=A))
    svc = service(shapes, {A: 2, owner: 3}, {A: 2})
    svc._led_astray(led_to_a(shapes, 3))
    reads = await settled(svc)
    assert reads.asked[0] == A and owner in reads.asked
    assert reads.most <= 8, f"{reads.most} reads at once for one doubted record"
    assert len(reads.asked) <= 1 + 152, f"{len(reads.asked)} read: past the owner"
    assert shapes._net(owner, MNQ) == 3


async def test_a_copier_book_all_holding_the_contract_is_not_read_whole_for_one_record() -> None:
    # every one of the 200 accounts holds MNQ long 3 (a copier's book): all are candidates.
    # A long 2 (listed) with its sell of 1 still counted; the last account exits 2 (long 1),
    # its record first and trimmed (2 - 1 leads it to A), its trade heard right after
    last = ACCOUNTS[-1]
    shapes = PositionShapes()
    for a in ACCOUNTS:
        shapes.seen(position(MNQ, 2 if a == A else 3, "1", acc=a))
    shapes.filled(fill(MNQ, Side.SELL, 1, "1", acc=A))
    book = {a: 3 for a in ACCOUNTS} | {A: 2, last: 1}
    svc = service(shapes, book, book | {last: 3})
    svc._led_astray(led_to_a(shapes, 1))
    shapes.filled(fill(MNQ, Side.SELL, 2, "1", acc=last))
    reads = await settled(svc)
    # A, and the one whose fills lead to the record: none of the other 198 holders
    assert reads.asked == [A, last], (
        f"one doubted record read {len(reads.asked)} of {len(ACCOUNTS)} accounts"
    )
    assert shapes._net(last, MNQ) == 1
