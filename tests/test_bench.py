"""The benchmark tooling: figure lines, the interleaved before/after harness, and the scale
bench's store building and start-up run against the product as it is."""

from __future__ import annotations

import gc
import importlib.util
import random
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_a_figure_line_carries_its_goal_and_reads_back(capsys: pytest.CaptureFixture[str]) -> None:
    figures = load("figures")
    figures.figure("start-up: ready", 2.5, "s", "<= 2")
    figures.figure("quotes/s", 31000.0, "/s", ">= 30000")
    figures.figure("timed out", None, "s", "<= 30")
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith("| <= 2 | MISSED")
    assert lines[1].endswith("| >= 30000 | ok")
    assert lines[2].endswith("| <= 30 | MISSED")
    assert [figures.parse(line) for line in lines] == [
        ("start-up: ready", 2.5, "s", "<= 2"),
        ("quotes/s", 31000.0, "/s", ">= 30000"),
        ("timed out", None, "s", "<= 30"),
    ]
    assert figures.parse("# a comment") is None


FAKE_BENCH = """
import os, sys
from pathlib import Path
sys.path.insert(0, {bench!r})
from figures import figure
side = Path.cwd().name
with open({order!r}, "a") as f:
    f.write(side + "\\n")
runs = sum(1 for line in open({order!r}) if line.strip() == side)
# before: 10, 20, 30 ms; after: 1, 2, 3 ms
figure("latency", (10 if side == "before" else 1) * runs, "ms", "<= 5")
"""


def test_compare_interleaves_the_two_trees_and_reports_median_and_spread(tmp_path: Path) -> None:
    order = tmp_path / "order.txt"
    script = tmp_path / "fake_bench.py"
    script.write_text(FAKE_BENCH.format(bench=str(BENCH), order=str(order)))
    before, after = tmp_path / "before", tmp_path / "after"
    before.mkdir()
    after.mkdir()
    out = subprocess.run(
        [sys.executable, str(BENCH / "compare.py"), "--before", str(before), "--after",
         str(after), "--python-before", sys.executable, "--python-after", sys.executable,
         "--reps", "3", "--out", str(tmp_path / "runs"), "--", str(script)],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout  # fmt: skip
    assert order.read_text().split() == ["before", "after"] * 3
    row = next(line for line in out.splitlines() if line.startswith("latency"))
    assert "20 (10-30) n=3" in row
    assert "2 (1-3) n=3" in row
    assert "0.10x" in row
    assert row.split()[-1] == "ok"  # the after side's median (2 ms) meets <= 5


def test_compare_refuses_an_unknown_bench_naming_the_choices(tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, str(BENCH / "compare.py"), "--before", str(tmp_path),
         "--python-before", sys.executable, "--", "nope.py"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert r.returncode != 0
    assert "no bench 'nope.py'" in r.stderr and "scale.py" in r.stderr


def test_trading_days_are_weekdays_of_the_weeks_asked_and_before_now() -> None:
    scale = load("scale")
    now = datetime(2026, 12, 4, 21, 0, tzinfo=UTC)  # a Friday evening
    days = scale.trading_days(now, 4)
    assert len(days) == 20
    assert all(d.weekday() < 5 and d < now for d in days)
    assert days[-1].date() == now.date() and days[0] > now - timedelta(weeks=4)


def test_the_history_is_built_through_the_product_and_reads_back(tmp_path: Path) -> None:
    from fsm_risk.adapters.store import Store

    scale = load("scale")
    (tmp_path / "settings.ini").write_text(scale.settings_text(scale.quiet_rules()))
    fills, _ = scale.build_history(tmp_path, accounts=3, weeks=1, fills_per_day=4)
    store = Store(tmp_path / "state.db")
    try:
        stored = store.accounts()
        per_account = [len(store.fills(a.account_id)) for a in stored]
    finally:
        store.close()
    assert [a.account_id for a in stored] == [3001, 3002, 3003]
    assert fills > 0 and per_account == [fills // 3] * 3


def test_scale_startup_runs_serve_on_the_built_store(tmp_path: Path) -> None:
    """The bench end to end at a tiny size: gateway and serve in their own processes."""
    r = subprocess.run(
        [sys.executable, str(BENCH / "scale.py"), "startup", "--accounts", "3", "--weeks", "1",
         "--fills-per-day", "2", "--timeout", "120"],
        capture_output=True, text=True, timeout=300, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    assert "the service restored 3 account(s)" in r.stdout
    figures = load("figures")
    got = {f[0]: f[1] for f in map(figures.parse, r.stdout.splitlines()) if f is not None}
    name = "start-up, 3 accounts, 1 week(s) of fills"
    assert got[f"{name}: machines restored"] is not None
    assert got[f"{name}: serving"] is not None
    assert got[f"{name}: every account reconciled (no rate limit)"] is not None


def test_scale_load_measures_normal_starts_and_a_first_start_beside(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A first start computes the exchange calendar's days with pandas (and keeps them); the
    memory figure must compare later starts, which read them back: the load bench fills the
    cache before its measured starts and says, for a cold and a warm start, whether pandas
    was loaded."""
    import asyncio

    scale = load("scale")
    asyncio.run(scale.first_starts(120))
    out = capsys.readouterr().out
    assert "# cold start, 1 account: RSS " in out and out.count("pandas loaded") == 1
    assert "# warm start, 1 account: RSS " in out and "pandas not loaded" in out
    figures = load("figures")
    got = {f[0]: f[1] for f in map(figures.parse, out.splitlines()) if f is not None}
    extra = got["load: first start of an installation (calendar cache empty), RSS over a "
                "later start, 1 account"]  # fmt: skip
    assert extra is not None and extra > 0


def test_scale_reconcile_sees_the_exposed_accounts_enforced(tmp_path: Path) -> None:
    """At the shipped budget, 10 accounts: the one holding 6 (over 5) is reduced, the locked
    one that bought while the service was down is flattened, every account reconciled."""
    r = subprocess.run(
        [sys.executable, str(BENCH / "scale.py"), "reconcile", "--reconcile-accounts", "10",
         "--timeout", "120"],
        capture_output=True, text=True, timeout=300, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    figures = load("figures")
    got = {f[0]: f[1] for f in map(figures.parse, r.stdout.splitlines()) if f is not None}
    name = "reconcile, 10 accounts, 1 in 10 holding + 1 in 10 locked (2 exposed)"
    assert got[f"{name}: exposed enforced"] is not None, r.stdout
    assert got[f"{name}: exposed enforced, lower bound at the shipped budget"] == 0, r.stdout
    assert got[f"{name}: every account reconciled"] is not None, r.stdout


@pytest.mark.parametrize("hour", [0, 22, 23])
def test_the_reconcile_store_keeps_its_day_lock_whatever_the_hour_of_the_run(hour: int) -> None:
    # at 22:58 UTC (16:58 Chicago) the shipped session's reset came two minutes after the
    # store was built and released its LockedDaily accounts before the service started
    scale = load("scale")
    from fsm_risk import config

    now = datetime(2026, 12, 4, hour, 58, tzinfo=UTC)
    text = scale.settings_text(scale.quiet_rules(5, 1000), session=scale.far_session(now))
    calendar = config.parse(text, "bench.ini").calendar()
    assert calendar.next_daily_reset(now) - now > timedelta(hours=11)
    assert calendar.next_weekly_reset(now) - now > timedelta(hours=11)


def test_the_reaction_trials_rest_alike_on_both_sides_within_the_budget() -> None:
    reaction = load("reaction")
    # whichever side a trial was on, the same pause follows it: both start from the same idle
    for took in (0.01, 0.05, 0.2):
        rest = reaction.rest_after(took)
        assert rest > 0
        pair = 2 * (took + rest)  # a service trial and a baseline trial
        # one close of the service per pair: at most half its requests a minute
        assert 60 / pair <= reaction.REQUESTS_PER_MINUTE / 2 + 1e-9
    assert reaction.rest_after(reaction.PACE) < 0  # a slow trial rests not at all


def test_the_reaction_p99_ratio_comes_with_the_interval_a_rerun_could_land_in() -> None:
    reaction = load("reaction")
    rng = random.Random(7)
    base = [rng.lognormvariate(1.2, 0.2) for _ in range(1000)]
    same = [rng.lognormvariate(1.2, 0.2) for _ in range(1000)]
    low, high = reaction.ratio_interval(same, base, 99)
    assert low < 1.0 < high  # one distribution: a ratio of 1 is within chance
    assert high - low > 0.05  # and the 99th percentile of 1,000 trials is not sharp
    slower = [x * 1.5 for x in same]
    low, high = reaction.ratio_interval(slower, base, 99)
    assert 1.2 < low < 1.5 < high < 1.9
    assert reaction.ratio_interval(slower, base, 99) == (low, high)  # seeded: repeatable


def test_the_benches_trading_hours_allow_every_instant() -> None:
    """The rule as the bench sets it up (every line of its settings, the exchange calendar's
    default included, as `serve` loads it), on ordinary days: the close before the weekend
    is not cut (the windows run end to end through it). An exchange holiday and the close
    before one do flatten, as the product does."""
    from fsm_risk.rules.trading_hours import TradingHours
    from tests.factories import rule_driver, the_rule

    engine = load("engine")
    raw = dict(
        (key.strip(), value.strip())
        for key, value in (line.split("=", 1) for line in engine.QUIET_EXTRA["trading_hours"])
    )
    schedule = the_rule(rule_driver(TradingHours, **raw), TradingHours).schedule
    # every second around each local midnight and noon and the exchange's close (21:00-22:00
    # UTC) for a week, a Friday's included, and the days the clocks change: a bench run at any
    # hour of an ordinary day never sees RULE-006 fire
    days = [datetime(2026, 12, 4, tzinfo=UTC) + timedelta(days=k) for k in range(7)]
    days += [datetime(2026, 3, 8, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)]
    days += [datetime(2026, 12, 4, tzinfo=UTC).replace(day=k) for k in (11, 18)]  # Fridays
    for day in days:
        for hour in (5, 6, 7, 8, 17, 18, 21, 22):  # Chicago's midnight, noon and close
            at = day + timedelta(hours=hour)
            for s in range(-90, 90):
                now = at + timedelta(seconds=s, microseconds=500_000)
                assert schedule.status(now).allowed, now


async def test_the_reaction_trials_poll_the_gateway_leaving_no_garbage(tmp_path: Path) -> None:
    """The trials' control calls share the process with the reactions measured: they must
    leave nothing for the cyclic collector, whose pauses would land inside a reaction (httpx's
    requests left reference cycles: for contrast, they still do)."""
    reaction = load("reaction")
    proc, base = await reaction.start_gateway(
        tmp_path, "[paper]\nprice_mode = scripted\nrate_limit = 0\n"
    )

    async def garbage(poll: Any) -> int:
        gc.collect()
        gc.disable()
        try:
            for _ in range(10):
                await poll(f"{base}/_paper/events", params={"since": 0})
                await poll(f"{base}/_paper/positions")
            return gc.collect()
        finally:
            gc.enable()

    try:
        async with reaction.Control(base) as http:
            order = {"account_id": 1001, "contract": "MNQ", "side": "buy", "size": 1}
            await http.post(f"{base}/_paper/orders", json=order)
            assert (await http.get(f"{base}/_paper/positions")).json()[0]["size"] == 1
            assert await garbage(http.get) == 0
        async with httpx.AsyncClient() as client:
            assert await garbage(client.get) > 0
    finally:
        await reaction.stop_gateway(proc)


def test_the_benches_start_the_service_from_written_bytecode_as_an_installed_one_does() -> None:
    """These machines set PYTHONDONTWRITEBYTECODE: without the bytecode written first, every
    start a bench timed compiled each of fsm_risk's modules again (0.15-0.4 s of a start)."""
    import fsm_risk

    figures = load("figures")
    figures.compile_tree()
    assert figures.compile_tree() == 0  # nothing missing or stale
    package = Path(fsm_risk.__file__).resolve().parent
    sources = list(package.rglob("*.py"))
    assert len(sources) > 50
    assert all(Path(importlib.util.cache_from_source(str(s))).exists() for s in sources)
