"""Found by a review of the beats' two witnesses, end to end: the machine wakes from a sleep (the
boot-time clock, which both the loop and the beats' thread read, jumps 60 s), the loop's beat
comes before the thread's pulse and the wake is handled once (every account read again). Then
the first commit after the wake is slow (4 s: a disk spinning up) while the thread runs: that
stall must not be taken for a second freeze (a second read of every account, the deadline rules
held again). Real SDK, paper gateway, the harness's shared manual clock; the loop stalled for
real."""

from __future__ import annotations

import asyncio
import threading
import types

import pytest

from fsm_risk.adapters import beats
from fsm_risk.core.events import Tick
from fsm_risk.paper import PaperGateway
from tests.e2e.service_harness import MNQ, Harness
from tests.e2e.test_loop_stall import READS, stall_the_next_commit
from tests.e2e.test_read_retries import counted

READS_ONCE = ["/api" + p for p in READS]  # the wake's one read of the account


async def test_a_stall_just_after_a_wake_is_no_second_freeze(
    h: Harness, paper_gateway: PaperGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    gw = paper_gateway
    await h.start()
    seen = counted(gw, monkeypatch)
    h.trade("MNQ", "buy", 2)
    await h.until(lambda: MNQ in h.acct.positions, "the position seen")
    await h.until(lambda: h.svc.queue.empty(), "the queue handled")
    slept = [0.0]
    b = h.svc.beats
    b._clock = lambda: beats.elapsed() + slept[0]  # the boot-time clock: a sleep moves it
    await asyncio.sleep(1)
    before = len(seen)
    stall_the_next_commit(h, 4)  # the first commit after the wake (the thaw's): a slow disk
    slept[0] = 60.0  # the wake: both witnesses see the jump at their next reading ...
    b.beat()  # ... the loop's beat first (the thread's pulse after it, within milliseconds)
    h.svc.submit(Tick())  # (as the service's own beat task does)
    await asyncio.sleep(8)  # the stall (4 s), then any thaw's reads (one account: 3 reads)
    reads = [p for p in seen[before:] if p.endswith(READS)]
    frozen = [m for m in h.logs if "was frozen" in m]
    assert (b.freezes, b.stalls) == (1, 1), "a stall just after a wake was a second freeze"
    assert len(frozen) == 1
    assert sorted(reads) == sorted(READS_ONCE), f"the account read more than once: {reads}"


#: the reads a reduce of his brings on its own (the service's check of the account), no freeze
baseline_reads = ["/api/Order/searchOpen", "/api/Trade/search", "/api/Position/searchOpen"]


class NoThread:
    """A thread that cannot be started (the process's or the container's limit on threads)."""

    def __init__(self, *args: object, **kw: object) -> None:
        pass

    def start(self) -> None:
        raise RuntimeError("can't start new thread")


@pytest.mark.parametrize("thread", [False, True])
async def test_the_beats_thread_failing_to_start_leaves_the_loop_beating(
    h: Harness, paper_gateway: PaperGateway, monkeypatch: pytest.MonkeyPatch, thread: bool
) -> None:
    """The beats' thread cannot start: the loop's own beats must go on (every gap of the loop
    then a freeze, as the safe side). A quiet market of 5 s (nothing queued) is no freeze."""
    gw = paper_gateway
    fake = types.SimpleNamespace(Thread=NoThread, Lock=threading.Lock, Event=threading.Event)
    if not thread:
        monkeypatch.setattr(beats, "threading", fake)  # (the beats' thread alone)
    await h.start()
    seen = counted(gw, monkeypatch)
    h.trade("MNQ", "buy", 2)
    await h.until(lambda: MNQ in h.acct.positions, "the position seen")
    await h.until(lambda: h.svc.queue.empty(), "the queue handled")
    beat_task = [t for t in h.svc._tasks if t.get_name() == "beats"]
    await asyncio.sleep(5)  # a quiet market: nothing queued, the loop idle
    before = len(seen)
    h.trade("MNQ", "sell", 1)
    await h.until(lambda: h.acct.positions.get(MNQ) is not None, "the reduce seen")
    await asyncio.sleep(6)
    reads = [p for p in seen[before:] if p.endswith(READS)]
    frozen = [m for m in h.logs if "was frozen" in m]
    assert h.svc.beats.freezes == 0 and frozen == [], "a quiet market was taken for a freeze"
    assert sorted(reads) == sorted(baseline_reads)
    assert beat_task and not beat_task[0].done(), "the beats' task died"
