"""A trader who runs `serve` under their own login pointed `[general] database` at a new file,
restarted, made themselves the admin of the empty database (`admin set-secret`: whoever sets
the first secret is the admin) and forced Trading out of RULE-003's LockedDaily. Nothing said the
locks, the peak and the audit were gone: status looked healthy.

Now an account that starts with no stored state while the gateway lists its trades this week is
a CRITICAL alert (log, `status` text and ``--json``, /readyz), kept in the database, and the
first `admin set-secret` on that database is refused without ``--take-over``.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from fsm_risk.adapters.auth import AdminAuth
from fsm_risk.core.states import State
from tests.e2e.service_harness import ACCOUNT, Harness, lock_by_daily_loss, run_cli, web

ADMIN_SECRET = "the-admins-secret-123"
TRADER_SECRET = "trader-secret-456789"
RULES = "[rule.daily_loss_limit]\nlimit = 500\n"


async def get(url: str) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as s, s.get(url) as r:
        return r.status, json.loads(await r.text())


async def test_a_replaced_database_is_a_critical_alert_and_takes_no_first_secret(
    h: Harness,
) -> None:
    await h.start(RULES)
    AdminAuth(h.svc.store, h.clock.now, delay=0).set_secret(ADMIN_SECRET)
    await lock_by_daily_loss(h)  # -600 under a 500 limit: LockedDaily
    await h.stop()
    # the trader's edit: a new, empty database
    settings = h.home / "settings.ini"
    settings.write_text(settings.read_text().replace("var/state.db", "var/mine.db"))
    await h.start()
    await h.until(lambda: h.svc._caught_up(ACCOUNT), "the account's trades read")
    assert h.acct.state is State.LockedDaily  # the P&L lock comes back from the trades
    said = [m for m in h.logs if "STATE_LOST" in m]
    assert said and "CRITICAL" in said[0] and "no stored state" in said[0], h.logs[-20:]
    code, out = await run_cli(h.home, "status")
    assert code == 0 and "CRITICAL: STATE LOST" in out and "2 trade(s) this week" in out, out
    code, out = await run_cli(h.home, "status", "--json")
    snap = json.loads(out)
    assert snap["state_lost"] == [ACCOUNT], snap.get("state_lost")
    [acct] = snap["accounts"]
    assert acct["lost_state"]["trades"] == 2 and "database was lost" in acct["lost_state"]["text"]
    code, body = await get(f"{web(h).url}readyz")
    assert body["accounts_state_lost"] == 1, body
    note = h.svc.lost[ACCOUNT]
    assert note.trades == 2 and note.week_net == note.day_net < -500, note

    # the trader's next step: become the admin of the new database. Refused.
    (h.home / "trader.secret").write_text(TRADER_SECRET)
    code, out = await run_cli(
        h.home, "admin", "set-secret", "--secret-file", str(h.home / "trader.secret")
    )
    assert code != 0 and "--take-over" in out and "no stored state" in out, out
    assert h.svc.store.admin() is None
    code, out = await run_cli(
        h.home, "transition", str(ACCOUNT), "--to", "Trading", "--reason", "mine",
        secret=TRADER_SECRET,
    )  # fmt: skip
    assert code != 0 and "no admin secret is set" in out, out
    assert h.acct.state is State.LockedDaily

    # the admin, having checked, takes over explicitly; the alert stays shown for the week
    code, out = await run_cli(
        h.home, "admin", "set-secret", "--take-over", "--secret-file",
        str(h.home / "trader.secret"),
    )  # fmt: skip
    assert code == 0 and "admin secret stored" in out, out
    code, out = await run_cli(h.home, "status")
    assert code == 0 and "CRITICAL: STATE LOST" in out, out


async def test_a_restart_keeps_the_alert_and_a_new_account_raises_none(h: Harness) -> None:
    """A first start on an account that has not traded this week is a new install: no alert,
    and the first secret is taken as before. Once raised, the alert survives a restart."""
    await h.start(RULES)
    await h.until(lambda: h.svc._caught_up(ACCOUNT), "the account's trades read")
    assert not h.svc.lost and ACCOUNT not in h.svc.unstored
    code, out = await run_cli(h.home, "status", "--json")
    assert json.loads(out)["state_lost"] == []
    await lock_by_daily_loss(h)
    await h.stop()
    (h.home / "var" / "state.db").unlink()  # the database deleted
    await h.start()
    await h.until(lambda: ACCOUNT in h.svc.lost, "the lost state noticed")
    await h.stop()
    await h.start()  # stored state now: not noticed again, but still shown
    assert ACCOUNT in h.svc.lost and ACCOUNT not in h.svc.unstored
    code, out = await run_cli(h.home, "status")
    assert code == 0 and "CRITICAL: STATE LOST" in out, out
