"""What one position record that names no account, and that no account is proven to own, costs
in reads on one connection serving 200 accounts (a trade copier's book), and that its owner is
still found: in the book every account holding the contract (a copier's add, its record before
its trade: no fill leads it anywhere), or nobody holding it (a first position). The accounts
that may own it are read a few at a time, the others only while those explain nothing; the
login is never read whole for one record.

Driven through the broker's own user-hub handler (`ProjectXBroker._user_callback`) and the
service's search (`Service._find_owner`), with a reconciler that reads a fixed book into the
broker's owner inference as its whole listing does (`test_owner_search_cost.Reads`); every read
is counted."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fsm_risk.adapters.broker import Credentials, Malformed, ProjectXBroker, sdk_config
from fsm_risk.core.events import Fill
from fsm_risk.service import OWNER_READS_AT_ONCE, Service
from tests.factories import MNQ, position
from tests.unit.test_owner_search_cost import Reads, service, settled

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
ACCOUNTS = list(range(5001, 5201))  # 200 accounts on the login
URLS = ("http://127.0.0.1:9/api", "http://127.0.0.1:9/hubs/user", "http://127.0.0.1:9/m")


def wired(book: dict[int, int], accounts: list[int] = ACCOUNTS) -> tuple[ProjectXBroker, Service]:
    """A broker routing ``accounts`` on one connection, its doubts answered by the service's
    search over reads of ``book`` (account -> signed MNQ size)."""
    heard: list[Any] = []
    b = ProjectXBroker(sdk_config(*URLS), Credentials("u", "key-0000"), heard.append,
                       now=lambda: NOW)  # fmt: skip
    b.routed = list(accounts)
    b._monitored = frozenset(accounts)
    svc = service(b.positions, book, {})
    svc.broker = b
    b.on_doubt = svc._doubt
    b.on_unowned = svc._unowned
    b.heard = heard  # type: ignore[attr-defined]
    return b, svc


def trimmed(size: int) -> dict[str, Any]:
    return {"contractId": MNQ, "type": 1, "size": size, "averagePrice": 21000.25}


def trade(account_id: int, size: int, trade_id: int = 1) -> dict[str, Any]:
    return {
        "id": trade_id,
        "accountId": account_id,
        "contractId": MNQ,
        "side": 0,
        "size": size,
        "price": 21000.25,
        "creationTimestamp": NOW.isoformat(),
    }


def holding_one_each(b: ProjectXBroker) -> None:
    for a in ACCOUNTS:
        b.positions.seen(position(MNQ, 1, "21000.25", acc=a))


async def test_a_copier_add_before_its_trade_reads_the_owner_not_the_book() -> None:
    # every account holds MNQ long 1; the 151st adds 1 (long 2): its record first and
    # trimmed, so no fill leads it anywhere; its trade is heard right after
    owner = ACCOUNTS[150]
    b, svc = wired({a: 1 for a in ACCOUNTS} | {owner: 2})
    holding_one_each(b)
    b._user_callback("position_update")(trimmed(2))
    b._user_callback("trade_execution")(trade(owner, 1))
    reads = await settled(svc)
    assert len(reads.asked) <= 1 + OWNER_READS_AT_ONCE, (
        f"one record asked {len(reads.asked)} reads of {len(ACCOUNTS)} accounts"
    )
    assert owner in reads.asked and b.positions._net(owner, MNQ) == 2
    assert b.health.unattributed == 1
    assert [type(e) for e in b.heard] == [Fill]  # type: ignore[attr-defined]


async def test_a_copier_add_whose_trade_is_never_heard_is_found_a_few_at_a_time() -> None:
    # as above, the owner's trade lost: the holders are read 9, then 8 at a time, in turn,
    # and none past the batch that finds the owner
    owner = ACCOUNTS[150]
    b, svc = wired({a: 1 for a in ACCOUNTS} | {owner: 2})
    holding_one_each(b)
    b._user_callback("position_update")(trimmed(2))
    reads = await settled(svc)
    assert owner in reads.asked and b.positions._net(owner, MNQ) == 2
    assert reads.most <= 1 + OWNER_READS_AT_ONCE, f"{reads.most} reads at once for one record"
    assert len(reads.asked) <= 151 + OWNER_READS_AT_ONCE, f"{len(reads.asked)} read: past it"


async def test_a_first_position_in_a_contract_nobody_holds_reads_its_owner_not_the_book() -> None:
    # nobody holds MNQ; the 101st opens long 1, its record first and trimmed, its trade heard
    # right after: the record is refused (no account may own it) and its owner looked for
    owner = ACCOUNTS[100]
    b, svc = wired({owner: 1})
    b._user_callback("position_update")(trimmed(1))
    b._user_callback("trade_execution")(trade(owner, 1))
    reads = await settled(svc)
    assert len(reads.asked) <= 1 + OWNER_READS_AT_ONCE, (
        f"one record asked {len(reads.asked)} reads of {len(ACCOUNTS)} accounts"
    )
    assert owner in reads.asked and b.positions._net(owner, MNQ) == 1
    assert [type(e) for e in b.heard] == [Malformed, Fill]  # type: ignore[attr-defined]


async def test_a_first_position_whose_trade_is_never_heard_is_found_a_few_at_a_time() -> None:
    owner = ACCOUNTS[100]
    b, svc = wired({owner: 1})
    b._user_callback("position_update")(trimmed(1))
    reads = await settled(svc)
    assert owner in reads.asked and b.positions._net(owner, MNQ) == 1
    assert reads.most <= 1 + OWNER_READS_AT_ONCE, f"{reads.most} reads at once for one record"
    assert len(reads.asked) <= 101 + OWNER_READS_AT_ONCE, f"{len(reads.asked)} read: past it"
    assert reads.asked[: 1 + OWNER_READS_AT_ONCE] == ACCOUNTS[: 1 + OWNER_READS_AT_ONCE]


async def test_a_small_book_is_read_at_once_as_before() -> None:
    # nine accounts: a first position nobody holds, or an add in a book all holding the
    # contract, has all nine read in one batch (no batch waits on another)
    small = ACCOUNTS[:9]
    for holding in (False, True):
        owner = small[-1]
        b, svc = wired({owner: 1 + holding} | ({a: 1 for a in small[:-1]} if holding else {}),
                       small)  # fmt: skip
        if holding:
            for a in small:
                b.positions.seen(position(MNQ, 1, "21000.25", acc=a))
        b._user_callback("position_update")(trimmed(1 + holding))
        reads = await settled(svc)
        assert sorted(reads.asked) == small and reads.most == len(small), (holding, reads.asked)
        assert b.positions._net(owner, MNQ) == 1 + holding


async def test_a_position_record_that_cannot_be_told_still_has_every_account_read() -> None:
    # no contract: nothing to look for, so every account it may belong to is read, as before
    b, svc = wired({})
    b._user_callback("position_update")({"type": 1, "size": 1, "averagePrice": 1.0})
    reads: Reads = await settled(svc)
    assert sorted(reads.asked) == ACCOUNTS


async def test_a_refused_record_of_a_proven_owner_has_that_account_read_alone() -> None:
    # the owner's fill leads to the record (proven its), but the record is refused (an open
    # position at price 0): what it said is unknown, so its owner is read, not the login
    owner = ACCOUNTS[150]
    b, svc = wired({owner: 1})
    b._user_callback("trade_execution")(trade(owner, 1))
    b._user_callback("position_update")(trimmed(1) | {"averagePrice": 0})
    reads = await settled(svc)
    assert reads.asked == [owner], f"one refused record read {len(reads.asked)} accounts"
    assert [type(e) for e in b.heard] == [Fill, Malformed]  # type: ignore[attr-defined]
