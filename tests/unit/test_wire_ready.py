"""`Wire.ready` returns once the connections being opened are done, even when one ended and
its done callback (which takes it out of the tasks) has not run yet. Seen on a fresh clone's
CI run: `ready` awaited the ended task again and again, never yielding to the loop that
would run that callback, and the test (tests/integration/test_enforcement_wire.py) spun for
good at 100% of a core."""

from __future__ import annotations

import asyncio
import threading

from fsm_risk.adapters.wire import Wire


def test_ready_returns_while_an_ended_tasks_callback_has_not_run_yet() -> None:
    answers: list[bool] = []

    async def main() -> None:
        wire = Wire("http://127.0.0.1:9/api", lambda: {}, 1.0)
        ended = asyncio.get_running_loop().create_future()
        ended.set_result(None)
        wire._tasks.add(ended)  # type: ignore[arg-type]  # ended, still listed
        answers.append(await wire.ready())

    # in a thread of its own: a coroutine that never yields cannot be timed out on its loop
    thread = threading.Thread(target=lambda: asyncio.run(main()), daemon=True)
    thread.start()
    thread.join(5)
    assert answers == [False], "Wire.ready did not return (it spins without yielding)"
