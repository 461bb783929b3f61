"""On a PostgreSQL server, a restart after [general] accounts was edited (an account added, or
the same account written by its name) keeps a loosening held for the daily reset held.

Found by a hunt: the settings in force are kept per account group, and the edited list's new
group found no record: the file was taken as in force, so the $5,000 daily loss limit held for
the reset applied minutes after the reload that held it (in force after the restart: 5000,
nothing pending), and a $600 loss no longer locked."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from fsm_risk.core.states import State
from fsm_risk.paper import PaperGateway
from fsm_risk.paper.settings import _accounts
from tests.e2e import service_harness
from tests.e2e.service_harness import MNQ, Harness
from tests.postgres import fresh_database

TWO = _accounts("1001: PAPER-1: 50000: true, 1002: PAPER-2: 50000: true")


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[str]:
    with fresh_database() as url:
        base = service_harness.BASE.replace("database = var/state.db", f"database = {url}")
        monkeypatch.setattr(service_harness, "BASE", base)
        yield url


@pytest.fixture
async def h(server: str, tmp_path: Path, paper_gateway: PaperGateway) -> AsyncIterator[Harness]:
    harness = Harness(tmp_path / "one", paper_gateway)
    harness.home.mkdir()
    try:
        yield harness
    finally:
        await harness.close()


def write(h: Harness, accounts: str, limit: int) -> None:
    path = h.write_settings(f"[rule.daily_loss_limit]\nlimit = {limit}\n")
    text = path.read_text().replace("[general]\n", f"[general]\naccounts = {accounts}\n", 1)
    path.write_text(text)


def limit_in_force(h: Harness) -> int:
    [rule] = [r for r in h.svc.engine.rules if r.id == "RULE-003"]
    return int(rule.config.limit)


@pytest.mark.paper(accounts=TWO)
@pytest.mark.parametrize("edited", ["1001, 1002", "PAPER-1"])
async def test_editing_the_accounts_list_does_not_bring_a_held_loosening_sooner(
    h: Harness, edited: str
) -> None:
    write(h, "1001", 500)
    await h.start()
    write(h, "1001", 5000)  # loosened mid-day: held for the daily reset
    assert "looser from the daily reset" in await h.svc.reload("admin:ops")
    held = h.svc.pending
    assert held is not None and limit_in_force(h) == 500
    await h.stop()
    write(h, edited, 5000)
    h.clock.advance(minutes=5)
    await h.start()
    assert limit_in_force(h) == 500, "the $5,000 limit applied hours before the daily reset"
    assert h.svc.pending is not None and h.svc.pending.applies_at == held.applies_at
    h.trade("MNQ", "buy", 2)
    await h.until(lambda: MNQ in h.acct.positions, "the position reached the service")
    h.gateway.move_price("MNQ", -600)
    await h.until(lambda: h.acct.state is State.LockedDaily, "locked by the $500 limit")


@pytest.mark.paper(accounts=TWO)
async def test_removing_the_added_account_again_keeps_the_held_loosening(h: Harness) -> None:
    """Found by a review: going back to an earlier accounts list (a group with an old record
    of its own) brought in at once a loosening the edited group held for the reset: 5000 in
    force, a -$600 move left 1001 Trading."""
    write(h, "1001", 5000)  # an earlier day: accounts = 1001, limit 5000
    await h.start()
    await h.stop()
    write(h, "1001, 1002", 500)  # 1002 added, the limit tightened: 500 at once
    await h.start()
    assert limit_in_force(h) == 500
    write(h, "1001, 1002", 5000)  # loosened mid-day: held for the daily reset
    assert "looser from the daily reset" in await h.svc.reload("admin:ops")
    await h.stop()
    write(h, "1001", 5000)  # 1002 removed again, minutes later
    h.clock.advance(minutes=5)
    await h.start()
    h.trade("MNQ", "buy", 2)
    await h.until(lambda: MNQ in h.acct.positions, "the position reached the service")
    h.gateway.move_price("MNQ", -600)
    try:
        await h.until(lambda: h.acct.state is State.LockedDaily, "locked by the $500 limit", 5)
    except TimeoutError:
        pytest.fail(
            f"limit in force {limit_in_force(h)}, pending {h.svc.pending}; after a -$600 move "
            f"1001 is {h.acct.state}, position {h.position('MNQ')} MNQ, closes {len(h.closes())}"
        )
