"""The trader's view at a glance: what governs trading now in the headline, plainly not
enforcing when no service runs, 80x24, human durations, one time zone."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fsm_risk import bootstrap, config, status
from fsm_risk.core.events import AccountUpdate
from tests.factories import ACC, MNQ, NQ, T0, D, Driver, position, quote

ROOT = Path(__file__).resolve().parents[2]
SATURDAY = datetime(2026, 11, 28, 15, 0, tzinfo=UTC)  # 09:00 Chicago: the market is closed


def shipped(now: datetime) -> Driver:
    d = Driver(bootstrap.build_engine(config.load(ROOT / "settings.ini")), now=now)
    d.send(AccountUpdate(ACC, "PRAC-V2-1001", D("50000"), True))
    return d


def text(d: Driver, *, source: str = "running service", tz: str | None = None) -> str:
    return status.render(status.snapshot(d.engine, d.now, tz=tz), color=False, source=source)


def test_the_headline_says_the_market_is_open_and_when_to_be_flat() -> None:
    d = shipped(T0)  # Monday 09:00 Chicago
    d.send(quote(MNQ, "21000"), position(MNQ, 2, "21000"), quote(NQ, "21000"))
    out = text(d)
    head = out.splitlines()[0]
    assert head == "Account 1001 PRAC-V2-1001  Trading  flat-by in 6 h 8 min (15:08 CST)"


def test_the_headline_says_when_a_closed_market_opens() -> None:
    out = text(shipped(SATURDAY))
    assert "Trading  CLOSED until Sun 17:00 CST (in 1 d 8 h)" in out.splitlines()[0]


def test_it_fits_80_by_24_with_human_durations() -> None:
    d = shipped(T0)
    d.send(quote(MNQ, "21000"), position(MNQ, 2, "21000"))
    out = text(d)
    lines = out.splitlines()
    assert len(lines) <= 24, out
    assert all(len(line) <= 80 for line in lines), out
    assert not re.search(r"\b\d{3,} ?s\b|\d+h \d+m|seconds", out), out  # no raw seconds
    assert "RULE-006 trading_hours" in out and "6 h 8 min" in out


def test_without_a_service_it_says_plainly_that_nothing_is_enforced() -> None:
    out = text(shipped(T0), source="database")
    first, second = out.splitlines()[:2]
    assert first == "NOT ENFORCING: no fsm-risk service is running."
    assert "Nothing is being enforced" in second


def test_one_configurable_time_zone() -> None:
    out = text(shipped(T0), tz="Europe/London")
    assert "flat-by in 6 h 8 min (21:08 GMT)" in out and "resets: daily Mon 23:00 GMT" in out
    assert "CST" not in out


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(0, "0 s"), (45, "45 s"), (125, "2 min 5 s"), (720, "12 min"), (5820, "1 h 37 min"),
     (7200, "2 h"), (183600, "2 d 3 h")],
)  # fmt: skip
def test_human_durations(seconds: int, shown: str) -> None:
    assert status.human(seconds) == shown


def test_history_shows_the_same_time_zone() -> None:
    rows = [
        {"at": T0.isoformat(), "account": ACC, "contract": None, "from": "Trading",
         "to": "LockedDaily", "trigger": "force", "rule": "ADMIN", "reason": "x",
         "actor": "admin:ops"},
    ]  # fmt: skip
    assert status.render_history(rows, "America/Chicago").startswith("2026-11-23 09:00:00 CST")


def test_an_account_not_reconciled_yet_is_shown_as_not_enforcing_yet() -> None:
    snap = status.snapshot(shipped(T0).engine, T0)
    snap["accounts"][0]["readiness"] = "queued"
    snap["readiness"] = {"ready": 0, "accounts": 1}
    lines = status.render(snap, color=False, source="running service").splitlines()
    assert lines[0] == "STARTING: 0 of 1 account(s) enforcing, the rest being reconciled"
    assert lines[2] == "  NOT ENFORCING YET: queued (its reconciliation with the gateway)"
    assert all(len(line) <= 80 for line in lines)
    snap["accounts"][0]["readiness"] = "ready"
    snap["readiness"] = {"ready": 1, "accounts": 1}
    out = status.render(snap, color=False, source="running service")
    assert "NOT ENFORCING YET" not in out and "STARTING" not in out


def test_an_account_enforcing_before_its_trades_are_read_says_so() -> None:
    snap = status.snapshot(shipped(T0).engine, T0)
    snap["accounts"][0]["readiness"] = "enforcing"
    snap["readiness"] = {"ready": 1, "accounts": 1}
    lines = status.render(snap, color=False, source="running service").splitlines()
    assert lines[1] == "  ENFORCING; its trades are still being read: the P&L limits wait for them"
    assert "NOT ENFORCING" not in "\n".join(lines)


def test_a_deadline_a_week_or_more_away_shows_its_date_not_only_a_weekday() -> None:
    """Reported: a 10-day self-lock read "until Tue 17:14 CST": the Tuesday after next."""
    at = datetime(2026, 12, 5, 23, 14, tzinfo=UTC)
    near = status._until("2026-12-08T23:14:00+00:00", "America/Chicago", at)
    far = status._until("2026-12-15T23:14:00+00:00", "America/Chicago", at)
    assert near == "Tue 17:14 CST, in 3 d"
    assert far == "Tue 2026-12-15 17:14 CST, in 10 d"


def test_a_close_unconfirmed_past_the_close_timeout_is_not_enforcing() -> None:
    """A close in flight longer than a close timeout (in the budget, or sent and never
    read back) or held back that long by the trader's exit counts; one within it does not."""
    from datetime import timedelta

    from fsm_risk.core.exposure import unconfirmed_closes
    from fsm_risk.core.models import ContractModel

    acct = shipped(T0).engine.accounts[ACC]
    timeout = timedelta(seconds=10)
    cm = acct.contracts[MNQ] = ContractModel(ACC, MNQ)
    cm.close_sent_at = T0
    assert unconfirmed_closes(acct, T0 + timeout, timeout, {}) == {}
    assert unconfirmed_closes(acct, T0 + timeout * 2, timeout, {}) == {MNQ: T0}
    cm.close_sent_at = None
    assert unconfirmed_closes(acct, T0 + timeout * 2, timeout, {}) == {}
    held = {(ACC, MNQ): T0}
    assert unconfirmed_closes(acct, T0 + timeout * 2, timeout, held) == {MNQ: T0}
    snap = status.snapshot(shipped(T0).engine, T0 + timeout * 2)
    snap["accounts"][0]["readiness"] = "ready"
    snap["accounts"][0]["closes_unconfirmed"] = {MNQ: T0.isoformat()}
    snap["readiness"] = {"ready": 1, "accounts": 1, "closes_unconfirmed": 1}
    snap["budget_waiting"] = {"close": 2, "cancel": 40}
    lines = status.render(snap, color=False, source="running service").splitlines()
    assert lines[0] == "NOT ENFORCING: 1 account(s) with a close not confirmed in time"
    assert lines[1] == "  waiting for the gateway's request limit: 2 close, 40 cancel"
    assert f"  NOT ENFORCING: close of {MNQ} not confirmed for 20 s" in lines
