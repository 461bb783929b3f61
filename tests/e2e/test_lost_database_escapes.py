"""Two ways around the lost-database alert (`fsm_risk.core.lost`), found by a review.

Both start the same way: RULE-003 locks the account (LockedDaily) on the admin's database, then
the trader, who owns the files, points ``[general] database`` at a new file.
"""

from __future__ import annotations

import asyncio

from fsm_risk import runtime
from fsm_risk.adapters.auth import AdminAuth
from fsm_risk.adapters.broker import Credentials
from fsm_risk.core.states import State
from tests.e2e.service_harness import ACCOUNT, Harness, lock_by_daily_loss, run_cli

ADMIN_SECRET = "the-admins-secret-123"
TRADER_SECRET = "trader-secret-456789"
NEW_ADMIN_SECRET = "the-admins-new-secret-789"
RULES = "[rule.daily_loss_limit]\nlimit = 500\n"


async def _locked_then_new_file(h: Harness) -> None:
    await h.start(RULES)
    AdminAuth(h.svc.store, h.clock.now, delay=0).set_secret(ADMIN_SECRET)
    await lock_by_daily_loss(h)  # -600 under a 500 limit: LockedDaily
    await h.stop()
    settings = h.home / "settings.ini"
    settings.write_text(settings.read_text().replace("var/state.db", "var/mine.db"))
    (h.home / "trader.secret").write_text(TRADER_SECRET)


async def _set_secret(h: Harness, *extra: str) -> tuple[int, str]:
    return await run_cli(
        h.home, "admin", "set-secret", *extra, "--secret-file", str(h.home / "trader.secret")
    )


async def _force_trading(h: Harness, secret: str) -> tuple[int, str]:
    return await run_cli(
        h.home, "transition", str(ACCOUNT), "--to", "Trading", "--reason", "mine", secret=secret
    )


async def test_a_first_start_whose_trades_were_not_read_is_checked_at_the_next(
    h: Harness,
) -> None:
    """Found by a review: the first start on the new file ran while /api/Trade/search failed
    (a network block, or a stop within its first second) and saved the account's row; the
    check lived only in memory, so after a normal restart the account had stored state: no
    STATE_LOST, the trader's first secret was taken without --take-over and forced LockedDaily
    to Trading. The pending check is now stored with the account's first row and decided at
    the first complete read, in whichever run it comes."""
    await _locked_then_new_file(h)
    h.gateway.fail_rest("/api/Trade/search", 503, 10_000)  # the trades cannot be read
    user, key = h.gateway.credentials()
    urls = (h.gateway.api_url, h.gateway.user_hub_url, h.gateway.market_hub_url)
    svc = runtime.make_service(h.settings, Credentials(user, key), urls, clock=h.clock)
    task = asyncio.create_task(svc.run())
    await asyncio.sleep(4)  # its reads of the trades fail: never caught up
    assert ACCOUNT in svc.unstored and not svc.lost
    svc.stop()
    await asyncio.wait_for(task, timeout=30)
    svc.store.close()

    # between the two starts: the check is pending, no first secret, and status says so
    code, out = await _set_secret(h)
    assert code != 0, f"a first secret taken while the check was pending: {out}"
    assert "pending" in out and "--take-over" in out, out
    code, out = await run_cli(h.home, "status")
    assert code == 0 and "state check pending" in out, out

    h.gateway.fail_rest("/api/Trade/search", 503, 0)
    await h.start()
    await h.until(lambda: h.svc._caught_up(ACCOUNT), "the account's trades read")
    assert ACCOUNT in h.svc.lost, "a lost database noticed by nothing"
    assert ACCOUNT not in h.svc.unstored
    assert any("STATE_LOST" in m and "CRITICAL" in m for m in h.logs), h.logs[-20:]
    code, out = await _set_secret(h)
    assert code != 0 and "--take-over" in out and "no stored state" in out, out
    assert h.svc.store.admin() is None
    code, out = await _force_trading(h, TRADER_SECRET)
    assert code != 0, out
    assert h.acct.state is State.LockedDaily
    code, out = await run_cli(h.home, "status")
    assert code == 0 and "CRITICAL: STATE LOST" in out and "pending" not in out, out

    await h.stop()  # decided: a later start neither checks again nor drops the note
    await h.start()
    assert ACCOUNT in h.svc.lost and ACCOUNT not in h.svc.unstored


async def test_a_secret_set_before_the_first_serve_is_not_trusted(h: Harness) -> None:
    """Found by a review: the trader set the first secret on the new file BEFORE the service
    had opened it (nothing refused it: no note yet). The start then raised STATE_LOST, whose
    text said "an admin secret set since", but the trader's secret forced LockedDaily to
    Trading. A secret the database holds when the note is written is now not trusted for any
    transition or unlock until an admin replaces it with `admin set-secret --take-over`."""
    await _locked_then_new_file(h)
    code, out = await _set_secret(h)  # the database holds no note yet: taken
    assert code == 0 and "admin secret stored" in out, out
    await h.start()
    await h.until(lambda: h.svc._caught_up(ACCOUNT), "the account's trades read")
    assert h.acct.state is State.LockedDaily
    code, out = await _force_trading(h, TRADER_SECRET)
    assert code != 0, f"the trader's secret, set before serve, ended the lock: {out}"
    assert "not trusted" in out, out
    assert h.acct.state is State.LockedDaily
    note = h.svc.lost[ACCOUNT]
    assert note.secret_held and "set since" not in note.text, note.text
    assert "not trusted" in note.text and "--take-over" in note.text, note.text
    code, out = await run_cli(h.home, "status")
    assert code == 0 and "NOT trusted" in out and "set since" not in out, out
    # a change of secret with the current one does not make it trusted
    code, out = await run_cli(
        h.home, "admin", "set-secret", "--secret-file", str(h.home / "trader.secret"),
        "--current-file", str(h.home / "trader.secret"),
    )  # fmt: skip
    assert code != 0 and "--take-over" in out, out

    # the admin, having checked, takes over: the new secret works, the trader's does not
    (h.home / "trader.secret").write_text(NEW_ADMIN_SECRET)
    code, out = await _set_secret(h, "--take-over")
    assert code == 0 and "admin secret stored" in out, out
    code, out = await _force_trading(h, TRADER_SECRET)
    assert code != 0 and "wrong admin secret" in out, out
    assert h.acct.state is State.LockedDaily
    code, out = await _force_trading(h, NEW_ADMIN_SECRET)
    assert code == 0, out
    await h.until(lambda: h.acct.state is State.Trading, "the admin's transition")


async def test_a_first_install_decides_the_check_and_takes_the_first_secret(h: Harness) -> None:
    """A fresh install (an account with no trades this week): `serve`, then `set-secret`.
    The stored check is decided at the first read and removed: no alert, nothing pending,
    the first secret taken without --take-over and trusted."""
    await h.start(RULES)
    await h.until(lambda: h.svc._caught_up(ACCOUNT), "the account's trades read")
    assert not h.svc.lost and ACCOUNT not in h.svc.unstored
    assert h.svc.store.meta_keys("lost_pending:") == []
    code, out = await run_cli(h.home, "status")
    assert code == 0 and "pending" not in out and "STATE LOST" not in out, out
    (h.home / "admin.secret").write_text(ADMIN_SECRET)
    code, out = await run_cli(
        h.home, "admin", "set-secret", "--secret-file", str(h.home / "admin.secret")
    )
    assert code == 0 and "admin secret stored" in out, out
    await lock_by_daily_loss(h)
    code, out = await _force_trading(h, ADMIN_SECRET)
    assert code == 0, out
    await h.until(lambda: h.acct.state is State.Trading, "the admin's transition")
