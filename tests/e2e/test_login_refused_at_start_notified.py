"""Found by a review of 2cbe6b1: a login the gateway refuses at the start is told to nobody.

A refusal (a wrong or revoked API key: the gateway's errorCode 3) is final: `serve` exits with
the reason in its log, and nothing is enforced until a person fixes the key. The [notify] urls
hear nothing of it: refused at once, the 5 s notice never comes; refused after a login outage
of 8 s, they were told "It keeps trying ... a notice follows once it enforces", then only
"fsm-risk stopped", never why nor what to fix. The real `serve` process, the real SDK against
the paper gateway, apprise's ``json://`` to a loopback receiver."""

from __future__ import annotations

import asyncio
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
KEY = "rvk-Zq81x"  # a key the gateway does not take (its keys have 10 characters or more)
PASSWORD = "nt-Hq27vBs"  # the notify URL's own credentials


async def refused_start(
    tmp_path: Path, gw: PaperGateway, procs: list[Any], receiver: Receiver
) -> tuple[int, str]:
    """`serve` with a key the gateway does not take (errorCode 3): its exit code and output."""
    url = receiver.url("all").replace("json://", f"json://watch:{PASSWORD}@")
    text = settings_text(tmp_path, gw) + f"[notify]\nurls = {url}\n"
    (tmp_path / "settings.ini").write_text(text)
    user, _ = gw.credentials()
    proc = await start(tmp_path, {"PROJECT_X_USERNAME": user, "PROJECT_X_API_KEY": KEY})
    procs.append(proc)
    out, _ = await asyncio.wait_for(proc.communicate(), 90)
    await asyncio.sleep(1.0)  # (a notice posted as it exits has landed)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


def told(receiver: Receiver) -> list[str]:
    return [m["title"] + " " + m["message"] for m in receiver.delivered()]


def no_secret(tmp_path: Path, out: str, bodies: list[str]) -> None:
    log = (tmp_path / "var" / "fsm.log").read_text()
    for where in (out, log, *bodies):
        assert KEY not in where and PASSWORD not in where, where[-2000:]


async def test_a_login_refused_at_start_is_told_with_what_to_fix(
    tmp_path: Path, paper_gateway: PaperGateway, procs: list[Any], receiver: Receiver
) -> None:
    """Refused at once: one notice says the start failed, why and what to fix, no secret."""
    code, out = await refused_start(tmp_path, paper_gateway, procs, receiver)
    assert code != 0 and "refused the login" in out, out[-2000:]
    bodies = told(receiver)
    assert any("refused" in b for b in bodies), (
        f"serve exited on a refused login (nothing enforced) and the targets heard: {bodies}"
    )
    [notice] = receiver.delivered()
    assert notice["title"] == "fsm-risk NOT ENFORCING: the start failed", bodies
    assert "check the username and the API key" in notice["message"], notice["message"]
    no_secret(tmp_path, out, bodies)


async def test_a_refusal_after_a_login_outage_is_told_not_only_it_keeps_trying(
    tmp_path: Path, paper_gateway: PaperGateway, procs: list[Any], receiver: Receiver
) -> None:
    """Told "it keeps trying" during the outage, then why it stopped (not "fsm-risk stopped")."""
    # the gateway's trouble, then its refusal (12 s: `serve`'s own start may take some of it)
    paper_gateway.fail_rest(LOGIN, 503, seconds=12.0)
    began = time.monotonic()
    code, out = await refused_start(tmp_path, paper_gateway, procs, receiver)
    assert code != 0 and "refused the login" in out, out[-2000:]
    assert time.monotonic() - began > 12.0
    titles = [m["title"] for m in receiver.delivered()]
    assert "fsm-risk NOT ENFORCING: cannot log in" in titles, titles  # (told: it keeps trying)
    bodies = told(receiver)
    assert any("refused" in b for b in bodies), (
        f"told it keeps trying, then serve exited on the refusal; the targets heard: {bodies}"
    )
    assert titles == [
        "fsm-risk NOT ENFORCING: cannot log in",
        "fsm-risk NOT ENFORCING: the start failed",
    ], titles
    no_secret(tmp_path, out, bodies)


async def test_a_refusal_restarted_over_and_over_is_told_once(
    tmp_path: Path, paper_gateway: PaperGateway, procs: list[Any], receiver: Receiver
) -> None:
    """A service manager restarting the refused start: the targets hear it once, not once a
    restart; the second start's log says it was told."""
    await refused_start(tmp_path, paper_gateway, procs, receiver)
    first = told(receiver)
    code, out = await refused_start(tmp_path, paper_gateway, procs, receiver)
    assert code != 0 and "refused the login" in out, out[-2000:]
    assert len(first) == 1 and told(receiver) == first, told(receiver)
    assert "start failure not notified again" in out, out[-2000:]


async def test_a_hung_target_does_not_hold_up_the_refused_start_s_exit(
    tmp_path: Path, paper_gateway: PaperGateway, procs: list[Any], receiver: Receiver
) -> None:
    """Found by a review of 2cbe6b1 (its fix sends the refusal as `serve` exits): a target
    that takes the request and never answers holds up neither the exit (within 15 s) nor
    the other target's notice."""
    text = settings_text(tmp_path, paper_gateway)
    text += f"[notify]\nurls = {receiver.url('hang')}, {receiver.url('all')}\n"
    (tmp_path / "settings.ini").write_text(text)
    user, _ = paper_gateway.credentials()
    began = time.monotonic()
    proc = await start(tmp_path, {"PROJECT_X_USERNAME": user, "PROJECT_X_API_KEY": KEY})
    procs.append(proc)
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    took = time.monotonic() - began
    assert proc.returncode != 0 and "refused the login" in out.decode(), out.decode()[-2000:]
    assert took < 15.0, f"serve took {took:.1f} s to exit on a refusal beside a hung target"
    assert receiver.hanging == 1
    titles = [m["title"] for m in receiver.delivered("all")]
    assert titles == ["fsm-risk NOT ENFORCING: the start failed"], titles
