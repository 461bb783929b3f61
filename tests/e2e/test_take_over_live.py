"""The take-over of an untrusted admin secret while the service runs, end to end: the trader
points ``[general] database`` at a new file and sets his own secret on it before the service
opens it (STATE_LOST, the secret not trusted); the admin takes it over with `admin set-secret
--take-over`. The running service's `status` and `history` then show the take-over (they said
"NOT trusted" and had no entry of it), and the notification URLs taking admin events are told."""

from __future__ import annotations

import getpass
import json

from fsm_risk.adapters.auth import AdminAuth
from fsm_risk.core.states import State
from tests.e2e.receiver import Receiver
from tests.e2e.service_harness import ACCOUNT, Harness, lock_by_daily_loss, run_cli

ADMIN_SECRET = "the-admins-secret-123"
TRADER_SECRET = "trader-secret-456789"
NEW_ADMIN_SECRET = "the-admins-new-secret-789"
RULES = "[rule.daily_loss_limit]\nlimit = 500\n"


async def test_the_take_over_is_in_the_running_services_status_history_and_notices(
    h: Harness,
) -> None:
    receiver = Receiver()
    await receiver.start()
    try:
        notify = f"[notify]\nurls = {receiver.url('admin')}\nevents = admin\nretries = 0\n"
        await h.start(RULES + notify)
        AdminAuth(h.svc.store, h.clock.now, delay=0).set_secret(ADMIN_SECRET)
        await lock_by_daily_loss(h)  # -600 under a 500 limit: LockedDaily
        await h.stop()
        settings = h.home / "settings.ini"
        settings.write_text(settings.read_text().replace("var/state.db", "var/mine.db"))
        (h.home / "new.secret").write_text(TRADER_SECRET)
        secret_file = str(h.home / "new.secret")
        code, out = await run_cli(h.home, "admin", "set-secret", "--secret-file", secret_file)
        assert code == 0, out  # the trader's, set before the service opened the new file

        await h.start()
        await h.until(lambda: h.svc._caught_up(ACCOUNT), "the account's trades read")
        assert h.acct.state is State.LockedDaily and h.svc.lost[ACCOUNT].secret_held
        code, out = await run_cli(h.home, "status")
        assert code == 0 and "running service" in out and "NOT trusted" in out, out

        (h.home / "new.secret").write_text(NEW_ADMIN_SECRET)
        code, out = await run_cli(
            h.home, "admin", "set-secret", "--take-over", "--secret-file", secret_file
        )
        assert code == 0 and "admin secret stored" in out, out
        printed, who = out, getpass.getuser()

        code, out = await run_cli(h.home, "status")
        assert code == 0 and "running service" in out and "CRITICAL: STATE LOST" in out, out
        assert "NOT trusted" not in out, f"status still says the secret is untrusted: {out}"
        assert f"admin secret replaced with --take-over by {who}" in out, out

        code, out = await run_cli(h.home, "history", str(ACCOUNT), "--json")
        rows = [json.loads(line) for line in out.splitlines()]
        taken = [r for r in rows if r["trigger"] == "take_over"]
        assert code == 0 and len(taken) == 1, f"no take-over in the audit log: {rows}"
        assert taken[0]["from"] == taken[0]["to"] == "LockedDaily", taken
        assert taken[0]["actor"] == who and "replaced" in taken[0]["reason"], taken

        title = f"fsm-risk: admin secret taken over by {who}"
        [post] = await receiver.wait_for(lambda: receiver.titled(title), "the take-over notice")
        assert f"accounts: {ACCOUNT}" in post["message"], post
        for text in (out, json.dumps(receiver.messages), "\n".join(h.logs)):
            assert NEW_ADMIN_SECRET not in text
        assert "recorded in the audit log of 1 account(s); notified 1 URL(s)" in printed, printed

        # the take-over's secret ends the lock; the trader's does not
        code, out = await run_cli(
            h.home, "transition", str(ACCOUNT), "--to", "Trading", "--reason", "mine",
            secret=TRADER_SECRET,
        )  # fmt: skip
        assert code != 0 and "wrong admin secret" in out, out
        code, out = await run_cli(
            h.home, "transition", str(ACCOUNT), "--to", "Trading", "--reason", "checked",
            secret=NEW_ADMIN_SECRET,
        )  # fmt: skip
        assert code == 0, out
        await h.until(lambda: h.acct.state is State.Trading, "the admin's transition")
    finally:
        await receiver.stop()
