"""The dashboard in a real headless browser (Debian's Chromium, driven by Playwright): a breach
at the paper gateway turns that account's card locked within 2 s, with a live countdown to the
lock's end; the page is readable on a phone's screen.

With FSM_RISK_DASHBOARD_PNG set, the locked view is also saved there (the README's screenshot:
``FSM_RISK_DASHBOARD_PNG=diagrams/dashboard.png .venv/bin/pytest tests/e2e/test_dashboard.py``).
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, async_playwright, expect

from fsm_risk.core.states import State
from fsm_risk.paper.settings import _accounts
from tests.e2e.service_harness import ACCOUNT, Harness, web

MNQ = "CON.F.US.MNQ.Z26"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
RULES = """
[rule.daily_loss_limit]
limit = 500
[rule.trailing_drawdown]
drawdown = 2000
starting_balance = 50000
[rule.weekly_loss_limit]
limit = 2500
[rule.max_contracts]
limit = 5
[rule.trading_hours]
windows = Sun-Thu 17:00-16:00
flat_by = 15:08
exchange_calendar = none
"""


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            await b.close()


def dashboard(h: Harness) -> str:
    return str(web(h).url)  # web() checked that it is served


@pytest.mark.paper(accounts=_accounts("1001: PAPER-1: 50000: true, 1002: PAPER-2: 50000: true"))
async def test_a_breach_turns_the_card_locked_within_two_seconds(
    h: Harness, browser: Browser
) -> None:
    await h.start(RULES)
    h.gateway.place_order(1002, "ES", 0, 1)  # the other account holds a position throughout
    h.trade("MNQ", "buy", 2)
    await h.until(lambda: "CON.F.US.EP.Z26" in h.svc.engine.accounts[1002].positions, "ES seen")
    await h.until(lambda: MNQ in h.acct.positions, "the position reached the service")
    h.gateway.move_price("MNQ", -300)
    await h.until(lambda: h.acct.positions[MNQ].upnl <= -300, "the loss is seen")
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    await page.goto(dashboard(h))
    card = page.locator(f'section.card[data-account="{ACCOUNT}"]')
    await expect(card).to_have_attribute("data-state", "Trading")
    await expect(card.locator(".state")).to_have_text("Trading")
    await expect(card.locator('[data-rule="RULE-003"] .bar')).to_have_class(re.compile("yellow"))
    await expect(card.locator("table").first).to_contain_text(MNQ)
    await expect(page.locator("#feed")).to_have_text("feed healthy")
    await expect(page.locator("#ready")).to_have_text("enforcing")

    h.gateway.move_price("MNQ", -300)  # -$600: past the daily loss limit
    await h.until(lambda: h.acct.state is State.LockedDaily, "locked by RULE-003")
    await expect(card).to_have_attribute("data-state", "LockedDaily", timeout=2000)
    await expect(card.locator(".state")).to_have_text("LockedDaily", timeout=2000)
    other = page.locator('section.card[data-account="1002"]')
    await expect(other).to_have_attribute("data-state", "Trading")
    await expect(other.locator(".countdown").first).to_contain_text("flat by in 6:07:")
    # the lock ends at the daily reset, 17:00 CST: 8 hours after T0 (09:00 CST)
    countdown = card.locator(".countdown").first
    await expect(countdown).to_contain_text(re.compile(r"lock ends in 7:59:\d\d"))
    await expect(card.locator("table.transitions")).to_contain_text("Flattening → LockedDaily")
    await expect(card.locator('[data-rule="RULE-003"] .bar')).to_have_class(re.compile("red"))
    assert h.acct.state is State.LockedDaily  # the page changed nothing
    if out := os.environ.get("FSM_RISK_DASHBOARD_PNG"):
        await page.screenshot(path=out, full_page=True)


async def test_the_page_fits_a_phone_screen(h: Harness, browser: Browser) -> None:
    await h.start(RULES)
    page = await browser.new_page(viewport={"width": 375, "height": 740}, is_mobile=True)
    await page.goto(dashboard(h))
    card = page.locator(f'section.card[data-account="{ACCOUNT}"]')
    await expect(card.locator(".state")).to_have_text("Trading")
    overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0  # nothing wider than the screen
    # measured in one step inside the page: the card is re-rendered on every update, so a
    # locator's box can be read just as the old card is detached
    width = await page.evaluate(
        f"document.querySelector('section.card[data-account=\"{ACCOUNT}\"]')"
        ".getBoundingClientRect().width"
    )
    assert 0 < width <= 375
    if out := os.environ.get("FSM_RISK_DASHBOARD_PHONE_PNG"):
        await page.screenshot(path=out, full_page=True)


async def test_a_close_not_confirmed_shows_on_the_card_within_seconds(
    h: Harness, browser: Browser
) -> None:
    """Reported: while `status` said NOT ENFORCING (a close unconfirmed past its timeout),
    the page never said so: it did not read `closes_unconfirmed`. No event announces the
    timeout passing: the page hears it within a second."""
    from fsm_risk.adapters.broker import Priority

    await h.start("[rule.max_contracts]\nlimit = 5\n")
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    await page.goto(dashboard(h))
    card = page.locator(f'section.card[data-account="{ACCOUNT}"]')
    await expect(page.locator("#ready")).to_have_text("enforcing")
    budget = h.svc.broker.budget
    held = 0
    while budget.wait_for(Priority.CLOSE) == 0:  # every slot in flight: nothing goes
        await budget.acquire(Priority.CLOSE)
        held += 1
    h.trade("MNQ", "buy", 7)
    await h.until(lambda: h.contract_state(MNQ) is State.Flattening, "the breach heard")
    await h.advance(seconds=3)  # the close timeout is 2 s
    alarm = card.locator('[data-readiness="close not confirmed"]')
    await expect(alarm).to_contain_text(f"NOT ENFORCING: close of {MNQ} not confirmed since")
    await expect(page.locator("#ready")).to_have_text("NOT READY")
    budget.window = 0.01  # (as if the slots' minute had passed once they are answered)
    for _ in range(held):
        budget.release()
    await h.until(lambda: h.contract_state(MNQ) is State.Trading, "confirmed")
    await expect(alarm).to_have_count(0)
    await expect(page.locator("#ready")).to_have_text("enforcing")


async def test_a_refused_cancel_of_an_order_the_lock_forbids_shows_on_the_card(
    h: Harness, browser: Browser
) -> None:
    """Reported: a locked account's opening order, every cancel of it refused for minutes,
    and the page (like every other surface) said enforcing. The card names the order now."""
    from fsm_risk.core.events import OrderType
    from tests.e2e.service_harness import lock_by_daily_loss

    await h.start("[rule.daily_loss_limit]\nlimit = 500\n")
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    await page.goto(dashboard(h))
    card = page.locator(f'section.card[data-account="{ACCOUNT}"]')
    await lock_by_daily_loss(h)
    await expect(page.locator("#ready")).to_have_text("enforcing")
    h.gateway.refuse_cancels()
    last = h.gateway.quote(MNQ).last
    oid = h.trade("MNQ", "buy", 10, type=OrderType.LIMIT, limit_price=last - 100).order_id
    await h.until(lambda: (o := h.acct.orders.get(oid)) and o.cancel_refused, "a cancel refused")
    await h.advance(seconds=3)  # the close timeout is 2 s
    alarm = card.locator('[data-readiness="cancel not confirmed"]')
    await expect(alarm).to_contain_text(
        f"NOT ENFORCING: cancel of order {oid} in {MNQ} refused since"
    )
    await expect(page.locator("#ready")).to_have_text("NOT READY")
    h.gateway.refuse_cancels(None)
    await h.advance(seconds=11)  # the next re-send: at most a cancel timeout (10 s) on
    await h.until(lambda: oid not in h.acct.orders, "the order cancelled")
    await expect(alarm).to_have_count(0)
    await expect(page.locator("#ready")).to_have_text("enforcing")
