"""Found by a review: the staged owner search of a record that names no account stops only on
real evidence: a non-owner that changed to the record's size (its own record, proven by its
fills, since the doubt) explains nothing."""

from __future__ import annotations

from fsm_risk.adapters.broker import Credentials, ProjectXBroker, sdk_config
from fsm_risk.service import Service
from tests.factories import MNQ, position
from tests.unit.test_owner_search_cost import service, settled
from tests.unit.test_unowned_record_cost import ACCOUNTS, NOW, URLS, trade, trimmed


def wired(book: dict[int, int]) -> tuple[ProjectXBroker, Service]:
    """As `test_unowned_record_cost.wired`, runnable on the code before the fix too."""
    b = ProjectXBroker(sdk_config(*URLS), Credentials("u", "key-0000"), lambda e: None,
                       now=lambda: NOW)  # fmt: skip
    b.routed = list(ACCOUNTS)
    b._monitored = frozenset(ACCOUNTS)
    svc = service(b.positions, book, {})
    svc.broker = b
    b.on_doubt = svc._doubt
    if hasattr(svc, "_unowned"):
        b.on_unowned = svc._unowned
    return b, svc


async def test_a_non_owner_that_changed_to_the_same_size_does_not_end_the_search() -> None:
    # a copier's book, every account long 1 MNQ. The owner X adds 1 (long 2): its record
    # first and trimmed, its trade lost. Then Y (the 4th account, in the first batch) adds 1
    # too: its trade heard, its own record proven Y's by its fill. The search for X's record
    # reads the first 9: Y is long 2 now (it was long 1 when X's record came, so not `same`)
    owner, y = ACCOUNTS[150], ACCOUNTS[3]
    b, svc = wired({a: 1 for a in ACCOUNTS} | {owner: 2, y: 2})
    for a in ACCOUNTS:
        b.positions.seen(position(MNQ, 1, "21000.25", acc=a))
    b._user_callback("position_update")(trimmed(2))  # X's, given to none
    b._user_callback("trade_execution")(trade(y, 1, trade_id=7))  # Y's add, heard
    b._user_callback("position_update")(trimmed(2))  # Y's record: its fill proves it
    reads = await settled(svc)
    assert b.positions._net(y, MNQ) == 2
    assert owner in reads.asked, (
        f"search stopped after {len(reads.asked)} reads {reads.asked[:12]}: X's long 2 never read"
    )
    assert b.positions._net(owner, MNQ) == 2
