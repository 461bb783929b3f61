"""The beats tell a freeze of the process (every thread stopped: SIGSTOP, a machine's sleep)
from a stall of the event loop alone (a slow commit, a blocking call: the beats' thread ran)
and from a step of the wall clock (neither)."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from fsm_risk.adapters import beats
from fsm_risk.adapters.beats import BEAT, Beats
from tests.factories import T0


class Elapsed:
    """The beats' clock, moved by hand."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def run(b: Beats, clock: Elapsed, seconds: float, *, loop: bool, thread: bool) -> None:
    """``seconds`` pass in steps of `BEAT`; the loop and the thread beat in each as told."""
    for _ in range(round(seconds / BEAT)):
        clock.t += BEAT
        if thread:
            b.pulse()
        if loop:
            b.beat()


def test_a_stall_of_the_loop_alone_is_no_freeze() -> None:
    """The loop stalled 4 s (a slow commit) while the thread pulsed every 0.5 s: no freeze."""
    clock = Elapsed()
    b = Beats(lambda: T0, clock)
    run(b, clock, 2, loop=True, thread=True)
    run(b, clock, 4, loop=False, thread=True)
    assert b.take() is None, "a stall of the event loop was taken for a freeze"
    assert (b.freezes, b.stalls, b.stalled) == (0, 1, 4.0)


@pytest.mark.parametrize("pulse_first", [True, False])
def test_a_freeze_stops_the_thread_too(pulse_first: bool) -> None:
    """Both stopped 5 s: a freeze, from the service's instant at the loop's last beat, whether
    the thread's first pulse after the wake comes before the loop's beat or after it."""
    clock = Elapsed()
    instants = iter(T0 + timedelta(seconds=i) for i in range(100))
    b = Beats(lambda: next(instants), clock)
    run(b, clock, 1, loop=True, thread=True)  # two beats: the last at T0 + 1 s
    clock.t += 5
    if pulse_first:
        b.pulse()
    assert b.take() == T0 + timedelta(seconds=1)
    b.pulse()
    run(b, clock, 1, loop=True, thread=True)
    assert b.take() is None
    assert (b.freezes, b.stalls) == (1, 0)


def test_the_thread_alone_held_off_is_no_freeze() -> None:
    """The loop ran on while the thread got no processor for 5 s: no freeze."""
    clock = Elapsed()
    b = Beats(lambda: T0, clock)
    run(b, clock, 1, loop=True, thread=True)
    run(b, clock, 5, loop=True, thread=False)
    b.pulse()
    run(b, clock, 1, loop=True, thread=True)
    assert b.take() is None
    assert (b.freezes, b.stalls) == (0, 0)


def test_without_the_thread_every_gap_of_the_loop_is_a_freeze() -> None:
    """No pulses at all (the thread never started): a gap of the loop is taken for a freeze,
    as the safe side."""
    clock = Elapsed()
    b = Beats(lambda: T0, clock)
    b.beat()
    clock.t += 4
    assert b.take() == T0


def test_a_step_of_the_wall_clock_is_no_freeze(monkeypatch: pytest.MonkeyPatch) -> None:
    """The wall clock (and the service's clock on it) set an hour ahead between two beats half
    a second apart (NTP, an admin's ``date``): no freeze. On the real clocks."""
    wall = time.time
    step = [0.0]
    monkeypatch.setattr(beats.time, "time", lambda: wall() + step[0])
    b = Beats(lambda: T0 + timedelta(seconds=step[0]))
    b.beat()
    step[0] = 3600.0
    assert b.take() is None, "a step of the wall clock was taken for a freeze"
    assert b.freezes == 0


def test_the_thread_starts_and_stops() -> None:
    b = Beats(lambda: T0)
    b.start()
    thread = b._thread
    assert thread is not None and thread.is_alive() and thread.daemon
    b.start()  # (once)
    assert b._thread is thread
    b.stop()
    assert not thread.is_alive()


@pytest.mark.skipif(not hasattr(time, "CLOCK_BOOTTIME"), reason="Linux's boot-time clock")
def test_the_clock_counts_a_suspend_and_is_not_the_wall_clock() -> None:
    """Linux: the boot-time clock (goes on while suspended; no step of the wall clock moves it)."""
    before = time.clock_gettime(time.CLOCK_BOOTTIME)
    got = beats.elapsed()
    assert before <= got <= time.clock_gettime(time.CLOCK_BOOTTIME)
    assert abs(got - time.time()) > 1e6  # not the wall clock (seconds since boot)
