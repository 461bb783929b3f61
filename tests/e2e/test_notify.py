"""Notifications end to end: the real service against the paper gateway, apprise posting to a
receiver on loopback; the messages' content is what a trader would read."""

from __future__ import annotations

from decimal import Decimal

import pytest

from fsm_risk.core.events import AdminCommand
from fsm_risk.core.states import State
from fsm_risk.errors import FsmRiskError
from fsm_risk.notify import Notifier
from tests.e2e.receiver import Receiver
from tests.e2e.service_harness import ACCOUNT, Harness

# the messages are checked against amounts computed from the fee table: the gateway's
# commissions (counted beside the fees, tested on their own) are left out here
pytestmark = pytest.mark.paper(commission=Decimal(0))

MNQ = "CON.F.US.MNQ.Z26"
DAILY_LOSS = "[rule.daily_loss_limit]\nlimit = 500\n"


@pytest.fixture
def h(receiver: Receiver, h: Harness) -> Harness:
    """The service (conftest's ``h``) set up after the receiver, so it stops first: its stop
    notice reaches the receiver."""
    return h


def notifier(h: Harness) -> Notifier:
    return next(c for c in h.svc.components if isinstance(c, Notifier))


async def test_warnings_once_per_threshold_then_flattening_and_lock_with_its_end(
    h: Harness, receiver: Receiver
) -> None:
    await h.start(DAILY_LOSS + f"[notify]\nurls = {receiver.url('all')}\n")
    await receiver.wait_for(lambda: receiver.titled("fsm-risk started"), "the start notice")
    [started] = receiver.titled("fsm-risk started")
    assert f"on account(s) {ACCOUNT}" in started["message"]

    h.trade("MNQ", "buy", 2)  # $1 a tick, $0.74 of fees
    await h.until(lambda: MNQ in h.acct.positions, "the position reached the service")
    h.gateway.move_price("MNQ", -260)  # -$260 and $1.74 of fees: 52% of the daily loss limit
    await receiver.wait_for(lambda: receiver.titled("50% of daily_loss_limit"), "50% warning")
    h.gateway.move_price("MNQ", -150)  # -$410.74: 82%
    await receiver.wait_for(lambda: receiver.titled("80% of daily_loss_limit"), "80% warning")
    for _ in range(3):  # hovering around 80%: no new warning
        h.gateway.move_price("MNQ", 20)
        await h.until(lambda: h.acct.positions[MNQ].upnl > -400, "back under 80%")
        h.gateway.move_price("MNQ", -20)
        await h.until(lambda: h.acct.positions[MNQ].upnl <= -410, "back over 80%")
    h.gateway.move_price("MNQ", -200)  # -$610.74: breach
    await h.until(lambda: h.acct.state is State.LockedDaily, "locked by RULE-003")
    await receiver.wait_for(lambda: receiver.titled("LockedDaily"), "the lock notice")

    [fifty] = receiver.titled("50% of daily_loss_limit")
    assert fifty["type"] == "warning"
    assert f"Account {ACCOUNT} PAPER-1: 52% used of RULE-003 daily_loss_limit" in (fifty["message"])
    assert "-261.74 $ against -500 $; equity" in fifty["message"]  # fees of both sides
    assert len(receiver.titled("80% of daily_loss_limit")) == 1
    assert receiver.titled("90% of") == []  # the jump went straight past it to the breach
    [flattening] = receiver.titled("flattening")
    assert flattening["message"].startswith(f"Account {ACCOUNT} PAPER-1 is flattening: RULE-003")
    [lock] = receiver.titled("LockedDaily")
    # until the next daily reset, in the configured time zone (America/Chicago)
    assert lock["title"] == f"Account {ACCOUNT}: LockedDaily until Mon 2026-11-23 17:00 CST"
    assert lock["message"] == (
        f"Account {ACCOUNT} PAPER-1 is LockedDaily until Mon 2026-11-23 17:00 CST: "
        "RULE-003 DAILY_LOSS_LIMIT (day P&L -611.74 <= -500.00 (equity))."
    )
    assert notifier(h).health.failed == 0


async def test_a_receiver_that_hangs_never_delays_a_close(h: Harness, receiver: Receiver) -> None:
    # apprise would wait a minute for this receiver's answer: far longer than the test allows
    hang = receiver.url("hang") + "?rto=60&cto=60"
    await h.start(DAILY_LOSS + f"[notify]\nurls = {hang}\n")
    # the start notice is stuck at the receiver: the notifier's only sender waits for it
    await receiver.wait_for(lambda: receiver.hanging >= 1, "the receiver holds a request")
    h.trade("MNQ", "buy", 2)
    await h.until(lambda: MNQ in h.acct.positions, "the position reached the service")
    h.gateway.move_price("MNQ", -600)
    await h.gw_until(lambda: h.position("MNQ") == 0, "closed at the gateway")
    await h.until(lambda: h.acct.state is State.LockedDaily, "locked")
    # everything above happened while the receiver still held the notifier's request
    assert receiver.answered_hung == 0
    assert notifier(h).health.sent == 0
    # the start notice held by the receiver; flattening and lock wait their turn behind it
    assert notifier(h).queued >= 3
    receiver.release.set()


async def test_per_account_urls_get_only_their_events_and_the_shared_ones_theirs(
    h: Harness, receiver: Receiver
) -> None:
    await h.start(
        DAILY_LOSS
        + f"[notify]\nurls = {receiver.url('desk')}\nevents = service, lock\n"
        + f"[notify.PAPER-1]\nurls = {receiver.url('trader')}\nevents = flattening, warning\n"
    )
    await receiver.wait_for(lambda: receiver.titled("started", "desk"), "the start notice")
    h.trade("MNQ", "buy", 2)
    await h.until(lambda: MNQ in h.acct.positions, "the position reached the service")
    h.gateway.move_price("MNQ", -600)
    await receiver.wait_for(lambda: receiver.titled("LockedDaily", "desk"), "lock to the desk")
    await receiver.wait_for(lambda: receiver.titled("flattening", "trader"), "to the trader")
    assert [m["title"] for m in receiver.delivered("desk")] == [
        "fsm-risk started",
        f"Account {ACCOUNT}: LockedDaily until Mon 2026-11-23 17:00 CST",
    ]
    assert all("flattening" in m["title"] for m in receiver.delivered("trader"))


async def test_a_refused_notification_is_retried_with_backoff_and_counted(
    h: Harness, receiver: Receiver
) -> None:
    receiver.fail_next["flaky"] = [500, 503]
    await h.start(f"[notify]\nurls = {receiver.url('flaky')}\nevents = service\n")
    n = notifier(h)
    n.backoff = 0.05
    await receiver.wait_for(lambda: receiver.delivered("flaky"), "delivered at the third try")
    await n.wait_for(lambda: n.health.sent)
    assert [m["status"] for _, m in receiver.messages] == [500, 503, 200]
    assert receiver.messages[-1][1]["title"] == "fsm-risk started"
    assert (n.health.sent, n.health.failed, n.health.retried) == (1, 0, 2)
    logged = [m for m in h.logs if "notification" in m]
    assert any("notification sent to all accounts (service): fsm-risk started" in m for m in logged)
    assert not any(f"127.0.0.1:{receiver.port}" in m for m in h.logs)  # URLs (tokens) never logged


async def test_stop_sends_the_stop_notice_before_the_service_ends(
    h: Harness, receiver: Receiver
) -> None:
    await h.start(f"[notify]\nurls = {receiver.url('ops')}\nevents = service\n")
    await receiver.wait_for(lambda: receiver.titled("started", "ops"), "the start notice")
    await h.stop()
    [stopped] = receiver.titled("fsm-risk stopped", "ops")
    assert "no longer watched" in stopped["message"]


async def test_flat_by_approaching_with_a_position_open_warns_once(
    h: Harness, receiver: Receiver
) -> None:
    await h.start(
        "[rule.trading_hours]\nwindows = Sun-Thu 17:00-16:00\nflat_by = 15:08\n"
        "exchange_calendar = none\n"
        f"[notify]\nurls = {receiver.url('t')}\nevents = flat_by\nflat_by_warning_minutes = 10\n"
    )
    h.trade("MNQ", "buy", 1)
    await h.until(lambda: MNQ in h.acct.positions, "the position reached the service")
    n = notifier(h)
    await h.advance(hours=5, minutes=50)  # Mon 14:50 CST: 18 minutes before 15:08
    n.check(h.clock.now())  # what the notifier's own task does every second
    assert n.queue.qsize() == 0 and receiver.delivered() == []
    await h.advance(minutes=9)  # 14:59: 9 minutes before
    await receiver.wait_for(lambda: receiver.delivered("t"), "the flat-by warning")
    [warning] = receiver.delivered("t")
    assert warning["title"] == f"Account {ACCOUNT}: flat by Mon 2026-11-23 15:08 CST"
    assert "(in 9 min) with position(s) open: CON.F.US.MNQ.Z26 long 1" in warning["message"]
    await h.advance(minutes=1)
    n.check(h.clock.now())
    assert n.queue.qsize() == 0  # once per session


async def test_a_rejected_close_and_an_admin_transition_are_notified(
    h: Harness, receiver: Receiver
) -> None:
    await h.start(
        DAILY_LOSS + f"[notify]\nurls = {receiver.url('o')}\nevents = enforcement, admin\n"
    )
    h.gateway.reject_orders(lambda r: r.source == "close", "market closed", count=1)
    h.trade("MNQ", "buy", 2)
    await h.until(lambda: MNQ in h.acct.positions, "position seen")
    h.gateway.move_price("MNQ", -600)
    await receiver.wait_for(lambda: receiver.titled("CLOSE_REJECTED"), "the rejection")
    [rejected] = receiver.titled("CLOSE_REJECTED")
    assert rejected["type"] == "failure"
    assert rejected["message"] == (
        f"Account {ACCOUNT} PAPER-1: enforcement request refused: /Position/closeContract: "
        "market closed (code 5) (the gateway rejected a close, cancel or resize request)."
    )
    await h.advance(seconds=3)  # the retry closes it
    await h.until(lambda: h.acct.state is State.LockedDaily, "locked")
    await h.svc.admin(AdminCommand(ACCOUNT, State.Trading, "desk ok", "ops"))
    await receiver.wait_for(lambda: receiver.titled("admin"), "the admin transition")
    [admin] = receiver.titled("admin")
    assert admin["title"] == f"Account {ACCOUNT}: admin moved it to Trading"
    assert admin["message"].startswith(  # what the override waived, and where it re-arms
        f"Account {ACCOUNT} PAPER-1: LockedDaily -> Trading by admin:ops: ADMIN_OVERRIDE: desk ok; "
        "waived RULE-003 daily_loss_limit until "
    )
    assert "re-arms at" in admin["message"]


async def test_feed_down_and_up_are_notified(
    h: Harness, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    await h.start(
        DAILY_LOSS + "[broker]\nfeed_silence_seconds = 5\n"
        f"[notify]\nurls = {receiver.url('f')}\nevents = feed\n"
    )
    h.trade("MNQ", "buy", 1)  # its quotes are watched from now on
    await h.until(lambda: MNQ in h.svc.broker.watched, "quotes watched")
    # the gateway's market feed goes quiet (not even its unchanged-quote heartbeat)
    monkeypatch.setattr(h.gateway, "_push_quote", lambda *args, **kwargs: None)
    await h.advance(seconds=10)  # no quote for 10 s
    await receiver.wait_for(lambda: receiver.titled("Feed down"), "feed down")
    [down] = receiver.titled("Feed down")
    assert down["type"] == "failure"
    assert down["message"] == (
        f"The gateway's feed is degraded: no quotes from {MNQ}. "
        "Rules that need live data cannot act until it is back."
    )
    monkeypatch.undo()
    h.gateway.move_price("MNQ", 1)
    await receiver.wait_for(lambda: receiver.titled("Feed up"), "feed up")
    assert receiver.titled("Feed up")[0]["message"] == "The gateway's feeds are healthy again."


async def test_a_retry_goes_only_to_the_url_that_failed(h: Harness, receiver: Receiver) -> None:
    receiver.fail_next["b"] = [500]
    urls = f"{receiver.url('a')}, {receiver.url('b')}"
    await h.start(f"[notify]\nurls = {urls}\nevents = service\n")
    n = notifier(h)
    n.backoff = 0.05
    await n.wait_for(lambda: n.health.sent == 2)

    def statuses(path: str) -> list[int]:  # (each URL is sent to by a lane of its own)
        return [m["status"] for p, m in receiver.messages if p == path]

    assert (statuses("a"), statuses("b")) == ([200], [500, 200])


async def test_a_notify_section_for_an_account_not_monitored_stops_the_start(
    h: Harness, receiver: Receiver
) -> None:
    with pytest.raises(FsmRiskError) as err:
        await h.start(f"[notify.PAPER-9]\nurls = {receiver.url('x')}\n")
    assert str(err.value) == (
        "[notify.PAPER-9]: no monitored account has this id or name (monitored: 1001 PAPER-1)"
    )


async def test_lock_notices_and_the_dashboard_show_the_display_time_zone(
    h: Harness, receiver: Receiver
) -> None:
    """`status` showed `display_timezone` (New York) while lock notices and the dashboard's
    clock and countdowns went by the session's zone (Chicago): one zone everywhere."""
    from tests.e2e.service_harness import BASE

    display = BASE.replace("[general]\n", "[general]\ndisplay_timezone = America/New_York\n")
    notify = f"[notify]\nurls = {receiver.url('all')}\n"
    (h.home / "settings.ini").write_text(display + DAILY_LOSS + notify, encoding="utf-8")
    await h.start()
    h.trade("MNQ", "buy", 2)
    await h.until(lambda: MNQ in h.acct.positions, "the position reached the service")
    h.gateway.move_price("MNQ", -600)
    await h.until(lambda: h.acct.state is State.LockedDaily, "locked by RULE-003")
    await receiver.wait_for(lambda: receiver.titled("LockedDaily"), "the lock notice")
    [lock] = receiver.titled("LockedDaily")
    assert lock["title"] == f"Account {ACCOUNT}: LockedDaily until Mon 2026-11-23 18:00 EST"
    from fsm_risk.web import WebServer

    web = next(c for c in h.svc.components if isinstance(c, WebServer))
    assert web.view()["timezone"] == "America/New_York"


async def test_a_hung_receiver_holds_back_only_its_own_notices(
    h: Harness, receiver: Receiver
) -> None:
    """Reported: with a hung receiver among four, the healthy one got "fsm-risk started" 54 s
    late, and the daily-loss locks of 24 accounts waited behind flattening notices for over an
    hour: notices went one at a time to each URL in turn."""
    hang = receiver.url("hang") + "?rto=60&cto=60"
    await h.start(DAILY_LOSS + f"[notify]\nurls = {hang}, {receiver.url('ok')}\n")
    await receiver.wait_for(lambda: receiver.hanging >= 1, "the receiver holds a request")
    await receiver.wait_for(lambda: receiver.titled("fsm-risk started", "ok"), "started", 5)
    h.trade("MNQ", "buy", 2)
    await h.until(lambda: MNQ in h.acct.positions, "the position reached the service")
    h.gateway.move_price("MNQ", -600)
    await receiver.wait_for(lambda: receiver.titled("LockedDaily", "ok"), "the lock notice", 5)
    assert receiver.titled("flattening", "ok")  # in its order, before the lock
    assert receiver.answered_hung == 0 and receiver.hanging == 1  # held all along
    assert notifier(h).health.failed == 0
    receiver.release.set()


async def test_a_receiver_answering_after_its_timeout_gets_the_notice_once(
    h: Harness, receiver: Receiver
) -> None:
    """Reported: a receiver answering after 20 s (apprise gives up after 4) got each notice
    four times: every re-send arrived too. No answer in time: it may have arrived."""
    late = receiver.url("hang") + "?rto=0.3"
    await h.start(f"[notify]\nurls = {late}\nevents = service\n")
    n = notifier(h)
    n.backoff = 0.05
    await n.wait_for(lambda: n.health.failed)
    assert receiver.hanging == 1
    assert (n.health.sent, n.health.retried) == (0, 0)
    assert n.health.last_error == "no answer in time; not sent again (it may have arrived)"
    assert any(
        "notification to all accounts not confirmed after 1 attempt(s) (service): "
        "fsm-risk started: no answer in time" in m
        for m in h.logs
    )
    receiver.release.set()


async def test_one_attempt_through_apprise_says_sent_refused_or_timed_out(
    receiver: Receiver,
) -> None:
    import asyncio
    import socket

    from fsm_risk.notify import REFUSED, SENT, TIMED_OUT, Notice, apprise_send

    notice = Notice("service", "t", "b")
    receiver.fail_next["r"] = [503]

    async def attempt(url: str) -> str:
        return await asyncio.to_thread(apprise_send, url, notice)

    assert await attempt(receiver.url("s")) == SENT
    assert await attempt(receiver.url("r")) == REFUSED  # an answer: worth another attempt
    assert await attempt(receiver.url("hang") + "?rto=0.3") == TIMED_OUT
    with socket.socket() as s:  # a free port: nothing listens there
        s.bind(("127.0.0.1", 0))
        closed = f"json://127.0.0.1:{s.getsockname()[1]}/x"
    assert await attempt(closed) == REFUSED  # no connection: it never arrived


async def test_a_refusal_answered_slowly_but_in_time_is_refused_not_timed_out() -> None:
    """A receiver that answers 503 after 0.6 s, its read timeout 2 s: it said no, so the notice
    is worth sending again (timed out, never re-sent, was what any failure slower than the
    connect timeout, 0.3 s here, was called)."""
    import asyncio
    import threading
    import time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from fsm_risk.notify import REFUSED, Notice, apprise_send

    class Slow503(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            time.sleep(0.6)
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Slow503)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"json://127.0.0.1:{server.server_address[1]}/?cto=0.3&rto=2"
        outcome = await asyncio.to_thread(apprise_send, url, Notice("lock", "locked", "b"))
    finally:
        server.shutdown()
        server.server_close()
    assert outcome == REFUSED
