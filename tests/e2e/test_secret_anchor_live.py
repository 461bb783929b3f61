"""The trust anchor against the running service: the trader, who owns the database files but
not the settings file, replaces the database with a new one holding his own admin secret, and
once the service has raised STATE_LOST, clears the note that the secret is not trusted. With
``[admin] secret_anchor`` (`fsm-risk admin anchor`), his secret ends no lock over the control
channel, and the admin's anchored secret does without a take-over."""

from __future__ import annotations

from fsm_risk import bootstrap
from fsm_risk.adapters.auth import AdminAuth
from fsm_risk.core.lost import UNTRUSTED_KEY
from fsm_risk.core.states import State
from tests.e2e.service_harness import ACCOUNT, Harness, lock_by_daily_loss, run_cli

ADMIN_SECRET = "the-admins-secret-123"
TRADER_SECRET = "trader-secret-456789"
RULES = "[rule.daily_loss_limit]\nlimit = 500\n"


async def _force_trading(h: Harness, secret: str) -> tuple[int, str]:
    return await run_cli(
        h.home, "transition", str(ACCOUNT), "--to", "Trading", "--reason", "r", secret=secret
    )


async def test_a_planted_secret_ends_no_lock_under_an_anchor(h: Harness) -> None:
    h.write_settings(RULES)
    (h.home / "admin.secret").write_text(ADMIN_SECRET)
    code, out = await run_cli(
        h.home, "admin", "anchor", "--secret-file", str(h.home / "admin.secret")
    )
    assert code == 0 and "anchored in" in out, out
    await h.start()
    await lock_by_daily_loss(h)  # -600 under a 500 limit: LockedDaily
    await h.stop()

    # the trader's new database at the same path, his secret in it (written as its owner can)
    database = h.settings.general.database
    for path in database.parent.glob(database.name + "*"):
        path.unlink()
    store = bootstrap.open_store(h.settings)
    AdminAuth(store, h.clock.now, delay=0).set_secret(TRADER_SECRET)
    store.close()

    await h.start()
    await h.until(lambda: h.svc._caught_up(ACCOUNT), "the account's trades read")
    assert ACCOUNT in h.svc.lost and h.acct.state is State.LockedDaily
    h.svc.store.set_meta(UNTRUSTED_KEY, None)  # "trusted" again, as far as the database says
    code, out = await _force_trading(h, TRADER_SECRET)
    assert code != 0 and "wrong admin secret" in out, f"the planted secret ended the lock: {out}"
    assert h.acct.state is State.LockedDaily
    code, out = await run_cli(h.home, "status")
    assert code == 0 and "running service" in out, out
    assert "admin secret anchored in the settings" in out and "NOT trusted" not in out, out

    h.svc.store.set_meta(UNTRUSTED_KEY, "2026-11-23T15:00:00+00:00")  # or not: all the same
    code, out = await _force_trading(h, ADMIN_SECRET)
    assert code == 0, out
    await h.until(lambda: h.acct.state is State.Trading, "the admin's transition")
    for text in (out, "\n".join(h.logs)):
        assert ADMIN_SECRET not in text
