"""Found by a review of the beats' two witnesses: the thread's pulse that comes late after a wake
(the loop's beat judged the freeze first) must not make the next stall of the loop alone a
second freeze (every account read again, the deadline rules held, as if frozen once more)."""

from __future__ import annotations

from datetime import timedelta

from fsm_risk.adapters.beats import Beats
from tests.factories import T0
from tests.unit.test_beats import Elapsed, run


def test_a_stall_right_after_a_wake_is_no_second_freeze() -> None:
    """Frozen 60 s (a machine's sleep, SIGSTOP); at the wake the loop's beat comes first and
    hands the freeze over, the thread's pulse just after it. Then the loop stalls 4 s (the first
    commit after a wake, a disk spinning up) while the thread pulses every 0.5 s: a stall."""
    clock = Elapsed()
    instants = iter(T0 + timedelta(seconds=i) for i in range(1000))
    b = Beats(lambda: next(instants), clock)
    run(b, clock, 2, loop=True, thread=True)
    clock.t += 60  # frozen: neither beats
    assert b.take() is not None  # the loop first: the freeze, handed over
    b.pulse()  # the thread's first pulse after the wake
    run(b, clock, 4, loop=False, thread=True)  # the loop alone stalled; the thread ran
    assert b.take() is None, "a stall of the loop after a wake was taken for a second freeze"
    assert (b.freezes, b.stalls) == (1, 1)


def test_the_thread_first_after_the_wake_then_a_stall_is_no_second_freeze() -> None:
    """The same with the thread's pulse first (it already passed before the fix)."""
    clock = Elapsed()
    b = Beats(lambda: T0, clock)
    run(b, clock, 2, loop=True, thread=True)
    clock.t += 60
    b.pulse()
    assert b.take() is not None
    run(b, clock, 4, loop=False, thread=True)
    assert b.take() is None
    assert (b.freezes, b.stalls) == (1, 1)


def test_a_freeze_right_after_a_wake_is_still_one() -> None:
    """A second real freeze just after the first (both stopped 5 s again): still a freeze,
    whichever of the two comes first after each wake."""
    for first in ("loop", "thread"):
        clock = Elapsed()
        b = Beats(lambda: T0, clock)
        run(b, clock, 2, loop=True, thread=True)
        for _ in range(2):
            clock.t += 60 if _ == 0 else 5
            if first == "thread":
                b.pulse()
            assert b.take() is not None, first
            if first == "loop":
                b.pulse()
        assert b.freezes == 2


class Suspendable:
    """The kernel's clocks as a suspend leaves them: the boot-time clock jumps by the sleep,
    the monotonic clock (Linux: no sleep counted) and time.monotonic do not."""

    def __init__(self) -> None:
        import time

        self.time = time
        self.slept = 0.0
        self.CLOCK_MONOTONIC = time.CLOCK_MONOTONIC
        self.CLOCK_BOOTTIME = getattr(time, "CLOCK_BOOTTIME", 7)

    def clock_gettime(self, which: int) -> float:
        base = self.time.clock_gettime(self.time.CLOCK_MONOTONIC)
        return base + (self.slept if which == self.CLOCK_BOOTTIME else 0.0)

    def monotonic(self) -> float:
        return self.time.monotonic()


def test_a_suspend_on_linux_is_a_freeze_on_the_real_code_path() -> None:
    """Linux: 60 s asleep move the boot-time clock only; both witnesses read it: a freeze."""
    import pytest

    from fsm_risk.adapters import beats

    mp = pytest.MonkeyPatch()
    try:
        fake = Suspendable()
        mp.setattr(beats, "time", fake)
        b = Beats(lambda: T0)
        b.beat()
        fake.slept = 60.0
        assert b.take() == T0, "a suspend (boot-time clock jumped) was not seen"
    finally:
        mp.undo()


def test_without_a_boot_time_clock_the_monotonic_clock_of_clock_gettime_is_read() -> None:
    """macOS has no CLOCK_BOOTTIME: the clock read is clock_gettime(CLOCK_MONOTONIC) (macOS's
    counts a sleep), not time.monotonic (mach_absolute_time: it does not)."""
    import types

    import pytest

    from fsm_risk.adapters import beats

    mp = pytest.MonkeyPatch()
    try:
        calls: list[str] = []
        fake = types.SimpleNamespace(
            CLOCK_MONOTONIC=1,
            clock_gettime=lambda w: calls.append(f"clock_gettime({w})") or 5.0,
            monotonic=lambda: calls.append("monotonic") or 7.0,
        )
        mp.setattr(beats, "time", fake)
        assert beats.elapsed() == 5.0 and calls == ["clock_gettime(1)"]
        windows = types.SimpleNamespace(monotonic=lambda: calls.append("monotonic") or 7.0)
        mp.setattr(beats, "time", windows)
        assert beats.elapsed() == 7.0 and calls[-1] == "monotonic"
    finally:
        mp.undo()
