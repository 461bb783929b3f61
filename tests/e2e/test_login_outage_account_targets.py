"""Found by a review of 2cbe6b1: a login outage at the start is told to nobody who set only
an account's own notification section.

A trader's own ``[notify.1001]`` urls hear every service notice once the service runs ("fsm-risk
started", "fsm-risk stopped", "Feed down": they concern every account), but a start whose
login does not go through (the gateway answering 503 for 12 s, or for hours) is told only to
``[notify] urls``: with none, nobody hears that account 1001 is not guarded. The real `serve`
process, the real SDK against the paper gateway, apprise's ``json://`` to a loopback
receiver."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

import pytest

from fsm_risk.paper.gateway import PaperGateway
from tests.e2e.receiver import Receiver
from tests.e2e.test_serve_process import procs, settings_text, start

pytestmark = pytest.mark.e2e

__all__ = ["procs"]

LOGIN = "/api/Auth/loginKey"
OUTAGE = 12.0  # the login answers 503 this long: the tries at 0, 0.5, 1.5, 3.5, 7.5 s fail
TOLD = "fsm-risk NOT ENFORCING: cannot log in"


async def test_a_login_outage_at_start_is_told_to_an_accounts_own_targets(
    tmp_path: Path, paper_gateway: PaperGateway, procs: list[Any], receiver: Receiver
) -> None:
    gw = paper_gateway
    user, key = gw.credentials()
    text = settings_text(tmp_path, gw) + f"[notify.1001]\nurls = {receiver.url('trader')}\n"
    (tmp_path / "settings.ini").write_text(text)
    gw.fail_rest(LOGIN, 503, seconds=OUTAGE)
    ends = time.monotonic() + OUTAGE
    proc = await start(tmp_path, {"PROJECT_X_USERNAME": user, "PROJECT_X_API_KEY": key})
    procs.append(proc)
    with contextlib.suppress(TimeoutError):  # told while the gateway still answers 503
        await receiver.wait_for(lambda: receiver.titled(TOLD), TOLD, ends - time.monotonic())
    during = [m["title"] for m in receiver.delivered("trader")]
    # (the same target hears the service's own notices once logged in)
    await receiver.wait_for(lambda: receiver.delivered("trader"), "a notice after the login", 60)
    after = [m["title"] for m in receiver.delivered("trader")]
    assert any(t.startswith("fsm-risk") for t in after), after
    assert during == [TOLD], (
        f"account 1001's own target heard {during} in {OUTAGE:.0f} s of a login outage "
        f"(nothing enforced), then {after}"
    )
