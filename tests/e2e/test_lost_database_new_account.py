"""Found by a review: the lost-state note on an admin's HEALTHY database (no file replaced): a
second account of the login that traded this week is added to the watch, and its start with no
stored state writes a note. The admin's secret, held by a database that kept its accounts'
state, stays trusted: made untrusted for every account, `admin set-secret --take-over` needed
no current secret, and the trader became the admin and ended the first account's lock."""

from __future__ import annotations

from decimal import Decimal

import pytest

from fsm_risk.adapters.auth import AdminAuth
from fsm_risk.core.states import State
from fsm_risk.paper.settings import PaperAccount
from tests.e2e.service_harness import ACCOUNT, Harness, lock_by_daily_loss, run_cli

ADMIN_SECRET = "the-admins-secret-123"
TRADER_SECRET = "trader-secret-456789"
RULES = "[rule.daily_loss_limit]\nlimit = 500\n"
MAIN = PaperAccount(ACCOUNT, "PAPER-1", Decimal("50000.00"))
SECOND = PaperAccount(2002, "PAPER-2", Decimal("50000.00"))


@pytest.mark.paper(accounts=(MAIN, SECOND))
async def test_adding_an_account_that_traded_this_week_keeps_the_admins_secret(
    h: Harness,
) -> None:
    path = h.write_settings(RULES)
    path.write_text(path.read_text().replace("[general]\n", f"[general]\naccounts = {ACCOUNT}\n"))
    await h.start()
    AdminAuth(h.svc.store, h.clock.now, delay=0).set_secret(ADMIN_SECRET)
    await lock_by_daily_loss(h)  # -600 under a 500 limit: LockedDaily on the admin's database
    # the second account of the login trades this week (not watched yet)
    h.gateway.place_order(SECOND.id, "MES", 0, 1)
    h.gateway.place_order(SECOND.id, "MES", 1, 1)
    await h.stop()
    # the same database: [general] accounts emptied (the default: every active account)
    path.write_text(path.read_text().replace(f"accounts = {ACCOUNT}\n", ""))
    await h.start()
    await h.until(lambda: h.svc._caught_up(SECOND.id), "the second account's trades read")
    assert h.acct.state is State.LockedDaily

    # the admin, on his own healthy database, acts on the FIRST account
    code, out = await run_cli(
        h.home, "transition", str(ACCOUNT), "--to", "LockedWeekly", "--reason", "admin",
        secret=ADMIN_SECRET,
    )  # fmt: skip
    assert code == 0, out
    await h.until(lambda: h.acct.state is State.LockedWeekly, "the admin's transition")
    # the trader: a take-over of a trusted secret needs the current one
    (h.home / "trader.secret").write_text(TRADER_SECRET)
    code, out = await run_cli(
        h.home, "admin", "set-secret", "--take-over", "--secret-file",
        str(h.home / "trader.secret"),
    )  # fmt: skip
    assert code != 0, f"the trader took the admin's secret over: {out}"
    code, out = await run_cli(
        h.home, "transition", str(ACCOUNT), "--to", "Trading", "--reason", "mine",
        secret=TRADER_SECRET,
    )  # fmt: skip
    assert code != 0, f"the trader's own secret ended the lock: {out}"
    assert h.acct.state is State.LockedWeekly
