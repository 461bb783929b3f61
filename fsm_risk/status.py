"""The trader's view: what `fsm-risk status` shows, as JSON-able data and as text.

``snapshot`` reads an engine (restored from the database, or the running service's) and never
changes it. ``render`` colours each rule's usage: under 50% green, 50-80% yellow, over 80% red.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import click

if TYPE_CHECKING:  # the engine is imported only where a snapshot is taken, not to render one
    from fsm_risk.core.cancels import StuckCancel
    from fsm_risk.core.engine import RiskEngine
    from fsm_risk.core.models import AccountModel, Lock

TRADING = "Trading"
#: a P&L rule's usage leaving a stale quote's value out (`rules.period_pnl`)
LEFT_OUT = "not counted till quoted"


def snapshot(
    engine: RiskEngine,
    now: datetime,
    account_ids: list[int] | None = None,
    *,
    tz: str | None = None,
) -> dict[str, Any]:
    """The view as JSON-able data; times are ISO instants, shown in ``tz`` (default: the
    session's time zone)."""
    cal = engine.calendar
    accounts = [
        _account(engine, a, now)
        for i, a in sorted(engine.accounts.items())
        if account_ids is None or i in account_ids
    ]
    return {
        "at": now.isoformat(),
        "timezone": tz or cal.tz,
        "hours": _hours(engine, now),
        "next_daily_reset": _next_reset(engine, account_ids, now).isoformat(),
        "next_weekly_reset": _next_reset(engine, account_ids, now, weekly=True).isoformat(),
        "accounts": accounts,
    }


def cancels_view(cancels: Iterable[StuckCancel]) -> list[dict[str, Any]]:
    """Cancels unconfirmed past a close timeout (`cancels.unconfirmed_cancels`) as the
    running service's view shows them, per account (``cancels_unconfirmed``)."""
    return [
        {
            "order_id": c.order_id,
            "contract_id": c.contract_id,
            "since": c.since.isoformat(),
            "refused": c.refused,
        }
        for c in cancels
    ]


def _next_reset(
    engine: RiskEngine, account_ids: list[int] | None, now: datetime, *, weekly: bool = False
) -> datetime:
    """The next daily (weekly) reset as the engine applies it: the accounts' day (week) ends
    (a `[session] daily_reset` moved across a restart takes effect when the open day ends,
    and the locks "until the reset" end with it), the calendar's when none is open."""
    from fsm_risk.core.sessions import lock_end

    ends = [
        lock_end(engine.calendar, (a.week if weekly else a.day).end, now, weekly=weekly)
        for i, a in engine.accounts.items()
        if account_ids is None or i in account_ids
    ]
    if ends:
        return min(ends)
    cal = engine.calendar
    return cal.next_weekly_reset(now) if weekly else cal.next_daily_reset(now)


def _hours(engine: RiskEngine, now: datetime) -> dict[str, Any] | None:
    """The trading hours rule's view of now: open until the flat-by time, or closed until the
    next window opens (None when the rule is not enabled)."""
    for rule in engine.rules:
        hours = getattr(rule, "hours", None)
        if hours is not None:
            is_open, until = hours(now)
            return {"open": is_open, "until": until.isoformat() if until else None}
    return None


def _money(v: Decimal | None) -> str | None:
    return None if v is None else f"{v:.2f}"


def _account(engine: RiskEngine, a: AccountModel, now: datetime) -> dict[str, Any]:
    from fsm_risk.core.engine import waiver_until
    from fsm_risk.core.models import strongest
    from fsm_risk.core.overdue import held_for_read, kept
    from fsm_risk.core.pnl import mark_price

    best = strongest(a.holds)
    lock = None
    if best is not None:
        ends = free_at(a.holds)
        lock = {
            "kind": best.kind.value,
            "until": best.until.isoformat() if best.until else None,
            "left_seconds": int((best.until - now).total_seconds()) if best.until else None,
            # its deadline passed: held until the account's trades are read (its rule judges
            # them then, and locks again where its cause still holds)
            "awaits_read": kept(best, held_for_read(engine.book, a), now),
            # a position appeared meanwhile is left to the read: closed when this passes
            # without it (`core.awaiting`; None: none left)
            "closes_unread_at": (
                c.isoformat() if (c := engine.flatten.awaiting.closes_at(a)) else None
            ),
            # the account is locked by such holds alone and its wait has not run out (a live
            # hold beside them, or a read over its wait late, closes a position on sight)
            "leaves_positions": engine.flatten.awaiting.unjudged(a, a, now),
            "source": best.source,
            "reason": best.reason.name,
            "detail": best.detail,
            # when the account can trade again: the last of its holds to end (None: one
            # ends with its condition); the weaker holds that outlast the one shown, in order
            "ends": ends.isoformat() if ends else None,
            "then": [_hold(h) for h in outlasting(a.holds)],
        }
    stale_after = engine.settings.stale_after
    positions = []
    for cid, p in sorted(a.positions.items()):
        mark = engine.marks.get(cid)
        price = mark_price(mark, p.long, engine.settings.mark_mode) if mark else None
        age = (now - mark.at).total_seconds() if mark else None
        positions.append(
            {
                "contract": cid,
                "side": "long" if p.long else "short",
                "size": p.size,
                "average_price": str(p.average_price),
                "mark": None if price is None else str(price),
                "mark_age_seconds": None if age is None else round(age, 1),
                "stale": mark is None or now - mark.at > stale_after or not p.priced,
                "unrealized": _money(p.upnl) if p.priced else None,
                "opened_at": p.opened_at.isoformat(),
            }
        )
    rules = []
    for rule in engine.rules:
        u = rule.usage(a, now)
        if u is None:
            continue
        rules.append(
            {
                "id": rule.id,
                "name": rule.name,
                "value": str(u.value),
                "limit": str(u.limit),
                "unit": u.unit,
                "fraction": float(u.fraction),
                "detail": u.detail,
            }
        )
    contracts = [
        {
            "contract": cid,
            "root": "." not in cid,
            "state": cm.state.value,
            "until": (h.until.isoformat() if (h := strongest(cm.holds)) and h.until else None),
            "ends": (e.isoformat() if cm.holds and (e := free_at(cm.holds)) else None),
            "then": [_hold(h) for h in outlasting(cm.holds)],
            "source": h.source if (h := strongest(cm.holds)) else cm.rule_id,
        }
        for cid, cm in sorted(a.contracts.items())
        if cm.state.value != TRADING
    ]
    waivers = [
        {
            "rule": key.split("@", 1)[0],
            "contract": key.split("@", 1)[1] if "@" in key else None,
            "until": waiver_until(w).isoformat(),
            "rearm": w.get("rearm") if isinstance(w, dict) else None,
            "at": w.get("at") if isinstance(w, dict) else None,
            "ends": w.get("ends") if isinstance(w, dict) else None,
            "text": engine.describe_waiver(key, w),
        }
        for key, w in sorted(engine.waivers(a).items())
    ]
    return {
        "account_id": a.account_id,
        "name": a.name,
        "state": a.state.value,
        "lock": lock,
        "waivers": waivers,
        "holds": sorted(a.holds),
        "can_trade": a.can_trade,
        "balance": _money(a.balance),
        "equity": _money(a.equity),
        "day": _book(a, now, weekly=False),
        "week": _book(a, now, weekly=True),
        "rules": rules,
        "positions": positions,
        "contracts": contracts,
        "working_orders": len(a.orders),
        "last_event_at": a.last_event_at.isoformat() if a.last_event_at else None,
    }


def free_at(holds: Mapping[str, Lock]) -> datetime | None:
    """When a model with these holds is free to trade again: the last of them to end (each
    ends by its own deadline; the strongest alone decides the state, not when the locks are
    over). None while one ends only with its condition (or there is none)."""
    ends = [h.until for h in holds.values()]
    return None if not ends or None in ends else max(e for e in ends if e is not None)


def outlasting(holds: Mapping[str, Lock]) -> list[Lock]:
    """The holds that outlast the strongest (a weaker lock that ends later: the state it
    leaves the model in once the strongest ends), in the order they take over."""
    from fsm_risk.core.models import strongest

    best = strongest(dict(holds))
    if best is None or best.until is None:
        return []
    later = [h for h in holds.values() if h.until is None or h.until > best.until]
    out: list[Lock] = []
    at = best.until
    while later:  # the strongest of those still held once the last shown ended
        nxt = strongest({str(i): h for i, h in enumerate(later)})
        assert nxt is not None
        out.append(nxt)
        if nxt.until is None:
            break
        at = nxt.until
        later = [h for h in later if h.until is None or h.until > at]
    return out


def _hold(h: Lock) -> dict[str, Any]:
    return {
        "kind": h.kind.value,
        "until": h.until.isoformat() if h.until else None,
        "source": h.source,
        "reason": h.reason.name,
    }


def _book(a: AccountModel, now: datetime, *, weekly: bool) -> dict[str, Any]:
    """The day's or the week's P&L; the week's net counts the balance fall kept for it that
    no trade listed explains (`Book.hidden`), as its loss limit does (said as ``hidden``)."""
    book = a.week if weekly else a.day
    unrealized = a.open_upnl - book.carry
    hidden = book.hidden if weekly else Decimal(0)
    return {
        "label": book.label.isoformat(),
        "realized": _money(book.realized),
        "unrealized": _money(unrealized),
        "hidden": _money(hidden),
        "net": _money(book.realized + unrealized + hidden),
        "fees": _money(book.fees),
        "ends": book.end.isoformat(),
    }


#: the account readiness words of what holds the whole service back, as `status` says them
HELD_BACK = {
    "stopping": "NOT ENFORCING: the service is stopping",
    "feed blind": "NOT ENFORCING: blind to a kind of the gateway's records (see feed)",
    "state not saved": "NOT ENFORCING as it should: its state is not saved",
}
#: the service's failed checks (its ``service`` view, /readyz's) said in the headline, when
#: no line of their own says them (the login, the reconciliation, closes, cancels, saving)
_CHECKS = {
    "connected": "the gateway's live feed is down (reconnecting)",
    "feed_complete": "blind to {blind} records (refused repeatedly)",
    "reads_answered": "the gateway's reads of {failing} failing",
    "enforcing": "the service is stopping",
    "reconciled": "trades still being read (the P&L limits wait for them)",
    "authenticated": "the gateway refuses the service's login",
    "closes_confirmed": "a close not confirmed in time",
    "cancels_confirmed": "a cancel not confirmed in time",
    "state_saved": "its state not saved",
    "named_monitored": "an account [general] accounts names is listed again, not monitored "
    "(restart fsm-risk)",
}


def not_enforcing(snap: dict[str, Any]) -> list[str]:
    """Why the running service does not enforce as it should, in words, for the headline: its
    failed checks (``service``, as /readyz answers them) that no line of their own says. Any
    failed check is said, one unknown here by its name: the text never says less than
    ``status --json``'s ``enforcing`` and /readyz."""
    service = snap.get("service") or {}
    if service.get("ready", True):
        return []
    feed = snap.get("feed") or {}
    r = snap.get("readiness") or {}
    login = r.get("authenticated") is False
    said = {  # each check and whether `render` has a line of its own saying it
        "authenticated": login,
        "enforcing": login,
        "reconciled": login or r.get("reconciled", 0) < r.get("accounts", 0),
        "closes_confirmed": bool(r.get("closes_unconfirmed")),
        "cancels_confirmed": bool(r.get("cancels_unconfirmed")),
        "state_saved": not (snap.get("storage") or {}).get("saved", True),
    }
    words = {
        "blind": ", ".join(feed.get("blind") or ()) or "some",
        "failing": ", ".join(feed.get("reads_failing") or ()) or "an account",
    }
    return [
        _CHECKS.get(name, f"check {name} failed").format(**words)
        for name, ok in service.items()
        if name != "ready" and ok is False and not said.get(name)
    ]


# --- text --------------------------------------------------------------------------------
# Fits an 80x24 terminal: every line is cut to 80 columns, durations are human ("1 h 37 min"),
# and every time is shown in the snapshot's one time zone.

WIDTH = 80


def _colour(fraction: float) -> str:
    if fraction > 0.8:
        return "red"
    if fraction >= 0.5:
        return "yellow"
    return "green"


def human(seconds: float | int | None) -> str:
    """A duration as a person reads it: ``45 s``, ``12 min``, ``1 h 37 min``, ``2 d 3 h``."""
    if seconds is None:
        return "?"
    s = max(int(seconds), 0)
    if s < 60:
        return f"{s} s"
    minutes, s = divmod(s, 60)
    if minutes < 60:
        return f"{minutes} min" + (f" {s} s" if s and minutes < 10 else "")
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h" + (f" {minutes} min" if minutes else "")
    days, hours = divmod(hours, 24)
    return f"{days} d" + (f" {hours} h" if hours else "")


def _local(iso: str, tz: str, *, short: bool = False) -> str:
    moment = datetime.fromisoformat(iso).astimezone(ZoneInfo(tz))
    return moment.strftime("%a %H:%M %Z" if short else "%a %Y-%m-%d %H:%M %Z")


def _until(iso: str, tz: str, at: datetime) -> str:
    """``Fri 17:00 CST, in 3 h 29 min``; with the date when a weekday alone would not say
    which one (six days away or more: ``Tue 2026-12-15 17:14 CST, in 9 d 23 h``)."""
    left = (datetime.fromisoformat(iso) - at).total_seconds()
    return f"{_local(iso, tz, short=left < 6 * 86400)}, in {human(left)}"


def _fit(line: str) -> str:
    return line if len(line) <= WIDTH else line[: WIDTH - 1] + "…"


def _when(iso: str, tz: str, at: datetime) -> str:
    """``15:08 CST`` today, ``Sun 17:00 CST`` another day (in the view's time zone)."""
    zone = ZoneInfo(tz)
    moment = datetime.fromisoformat(iso).astimezone(zone)
    same_day = moment.date() == at.astimezone(zone).date()
    return moment.strftime("%H:%M %Z" if same_day else "%a %H:%M %Z")


def headline_hours(snap: dict[str, Any]) -> str:
    """What the trading hours allow now, in words ("" without a trading hours rule):
    ``flat-by in 23 min (15:08 CST)`` or ``CLOSED until Sun 17:00 CST (in 1 d 8 h)``."""
    hours = snap.get("hours")
    if not hours:
        return ""
    tz = snap["timezone"]
    at = datetime.fromisoformat(snap["at"]) if "at" in snap else datetime.now(UTC)
    until = hours["until"]
    if hours["open"]:
        if until is None:
            return "market open"
        left = human((datetime.fromisoformat(until) - at).total_seconds())
        return f"flat-by in {left} ({_when(until, tz, at)})"
    if until is None:
        return "market CLOSED"
    left = human((datetime.fromisoformat(until) - at).total_seconds())
    return f"CLOSED until {_when(until, tz, at)} (in {left})"


def _then(later: Iterable[dict[str, Any]], tz: str, at: datetime, indent: str = "  ") -> list[str]:
    """A line per weaker lock that outlasts the one shown: the trader is not free at its end."""
    out = []
    for h in later:
        until = f"until {_until(h['until'], tz, at)}" if h["until"] else "until its condition ends"
        out.append(_fit(f"{indent}then {h['kind']} {until} ({h['source']} {h['reason']})"))
    return out


def _value(v: str, unit: str) -> str:
    if unit == "s":
        return human(Decimal(v))
    if unit == "$":
        return f"{Decimal(v):.2f}"
    return v


def lost_lines(a: dict[str, Any], tz: Any) -> list[str]:
    """An account started with no stored state while it traded this week (`core.lost`)."""
    lost = a.get("lost_state")
    if not lost:
        if a.get("lost_check_pending"):
            return [
                _fit("  state check pending: stored with no state, its trades this week not"),
                _fit("    read yet (a first admin secret is refused until they are)"),
            ]
        return []
    took = lost.get("secret_taken_over")
    if lost.get("secret_anchored"):
        secret = "    admin secret anchored in the settings: only a secret matching it is trusted"
    elif took:
        done = "replaced" if took.get("replaced") else "set"
        secret = (
            f"    admin secret {done} with --take-over by {took['by']} at {_clock(took['at'], tz)}"
        )
    elif lost.get("secret_held"):
        secret = "    the admin secret held then is NOT trusted until set-secret --take-over"
    else:
        secret = "    an admin secret set since may not be the admin's: the admin must check"
    return [
        _fit(f"  CRITICAL: STATE LOST at {_clock(lost['at'], tz)}: started with no stored state"),
        _fit(
            f"    but the gateway lists {lost['trades']} trade(s) this week (week "
            f"{Decimal(lost['week_net']):+.2f})"
        ),
        _fit("    lost: locks not rebuilt from trades, waivers, peak, audit before then"),
        _fit(secret),
    ]


def render(snap: dict[str, Any], *, color: bool = True, source: str = "database") -> str:
    tz = snap["timezone"]
    at = datetime.fromisoformat(snap["at"]) if "at" in snap else datetime.now(UTC)
    out: list[str] = []

    def style(text: str, **kw: Any) -> str:
        return click.style(text, **kw) if color else text

    live = source == "running service"
    if not live and snap.get("service_unanswering"):
        line = "NOT ENFORCING: a service holds the database but does not answer yet."
        out.append(style(line, fg="red", bold=True))
        out.append(
            "It is starting (logging in, reading the gateway) or hung; nothing is enforced "
            "until it answers. Below is the last state in the database."
        )
    elif not live:
        out.append(style("NOT ENFORCING: no fsm-risk service is running.", fg="red", bold=True))
        out.append("Nothing is being enforced; below is the last state in the database.")
    if not snap["accounts"]:
        out.append("no account is monitored yet (start `fsm-risk serve`)")
        return "\n".join(out) + "\n"
    readiness = snap.get("readiness")
    if readiness and readiness.get("authenticated") is False:
        line = "NOT ENFORCING: the gateway refuses the service's login; logging in again"
        out.append(style(_fit(line), fg="red", bold=True))
    elif readiness and readiness.get("reconciled", readiness["ready"]) < readiness["accounts"]:
        done = readiness.get("reconciled", readiness["ready"])
        line = (
            f"STARTING: {done} of {readiness['accounts']} account(s) enforcing, "
            "the rest being reconciled"
        )
        out.append(style(_fit(line), fg="yellow", bold=True))
    if readiness and readiness.get("closes_unconfirmed"):
        line = (
            f"NOT ENFORCING: {readiness['closes_unconfirmed']} account(s) with a close not "
            "confirmed in time"
        )
        out.append(style(_fit(line), fg="red", bold=True))
    if readiness and readiness.get("cancels_unconfirmed"):
        line = (
            f"NOT ENFORCING: {readiness['cancels_unconfirmed']} account(s) with a cancel not "
            "confirmed in time"
        )
        out.append(style(_fit(line), fg="red", bold=True))
    if readiness and (readiness.get("closes_unconfirmed") or readiness.get("cancels_unconfirmed")):
        waiting = snap.get("budget_waiting") or {}
        if waiting:
            shown = ", ".join(f"{n} {kind.replace('_', ' ')}" for kind, n in waiting.items())
            out.append(_fit(f"  waiting for the gateway's request limit: {shown}"))
    why = not_enforcing(snap) if live else []
    if why == [_CHECKS["reconciled"]]:  # positions and orders enforced, each account says so
        line = "NOT ENFORCING the P&L limits yet: trades still being read"
        out.append(style(_fit(line), fg="yellow", bold=True))
    elif why:
        out.append(style(_fit("NOT ENFORCING: " + "; ".join(why)), fg="red", bold=True))
    storage = snap.get("storage")
    if storage and not storage.get("saved", True):
        line = f"STATE NOT SAVED since {_clock(storage['since'], tz)}: NOT ENFORCING as it should"
        out.append(style(_fit(line), fg="red", bold=True))
        out.append("  it acts from memory only: a restart would lose what it holds")
        out.append(_fit(f"  the database cannot be written: {storage['reason']}"))
    hours = headline_hours(snap)
    for a in snap["accounts"]:
        state = a["state"]
        state_colour = "green" if state == TRADING else "red"
        name = f"Account {a['account_id']} {a['name']}  "
        head = name + style(state, fg=state_colour, bold=True)
        width = len(name) + len(state)
        if hours:
            shown = style(hours, fg="yellow" if "CLOSED" in hours else None)
            if width + 2 + len(hours) <= WIDTH:
                head, width = f"{head}  {shown}", width + 2 + len(hours)
            else:  # a long account name: the hours go on their own line
                out.append(head)
                head, width = f"  {shown}", 2 + len(hours)
        if a["can_trade"] is False:
            head += style("  [gateway: cannot trade]", fg="red")
        out.append(head)
        if a.get("readiness") == "enforcing":
            line = "  ENFORCING; its trades are still being read: the P&L limits wait for them"
            out.append(style(_fit(line), fg="yellow", bold=True))
        elif a.get("readiness") == "login refused":
            line = "  NOT ENFORCING: blind while the gateway refuses the service's login"
            out.append(style(_fit(line), fg="red", bold=True))
        elif a.get("readiness") == "feed down":
            line = "  NOT ENFORCING: the gateway's live feed is down (reconnecting)"
            out.append(style(_fit(line), fg="red", bold=True))
        elif a.get("readiness") in HELD_BACK:
            out.append(style(_fit(f"  {HELD_BACK[a['readiness']]}"), fg="red", bold=True))
        elif a.get("readiness") == "reads failing":
            failing = ((snap.get("feed") or {}).get("reads_failing") or {}).get(
                str(a["account_id"]), {}
            )
            line = (
                "  READS FAILING: its state at the gateway not confirmed since "
                f"{_clock(failing.get('since'), tz)}"
            )
            out.append(style(_fit(line), fg="red", bold=True))
        elif a.get("readiness", "ready") not in (
            "ready",
            "close not confirmed",
            "cancel not confirmed",
        ):
            line = f"  NOT ENFORCING YET: {a['readiness']} (its reconciliation with the gateway)"
            out.append(style(line, fg="red", bold=True))
        for cid, since in (a.get("closes_unconfirmed") or {}).items():
            took = human((at - datetime.fromisoformat(since)).total_seconds())
            line = f"  NOT ENFORCING: close of {cid} not confirmed for {took}"
            out.append(style(_fit(line), fg="red", bold=True))
        for k in a.get("cancels_unconfirmed") or ():
            took = human((at - datetime.fromisoformat(k["since"])).total_seconds())
            how = "refused" if k["refused"] else "not confirmed"
            # an order that would open or add to a position while the scope is locked; the
            # time on a line of its own (the gateway's order ids are long)
            line = f"  NOT ENFORCING: cancel of order {k['order_id']} in {k['contract_id']} {how}"
            out.append(style(_fit(line), fg="red", bold=True))
            out.append(style(f"    since {_clock(k['since'], tz)} ({took})", fg="red"))
        out.extend(style(line, fg="red", bold=True) for line in lost_lines(a, tz))
        lock = a["lock"]
        if lock:
            until = (
                f"until {_until(lock['until'], tz, at)}"
                if lock["until"]
                else "until its condition ends"
            )
            if lock.get("awaits_read"):
                passed = _local(lock["until"], tz, short=True)
                until = f"until its trades are read (its end, {passed}, has passed)"
            out.append(_fit(f"  {state} {until} ({lock['source']} {lock['reason']})"))
            if lock.get("awaits_read") and lock.get("leaves_positions", True):  # (`awaiting`)
                left = lock.get("closes_unread_at")
                late = f"; closed at {_clock(left, tz)} without it" if left else ""
                out.append("  orders that open are cancelled; a position waits for the read:")
                out.append(_fit(f"    closed if it locks again, kept if not{late}"))
            out.extend(_then(lock.get("then") or (), tz, at))
        for w in a.get("waivers", ()):
            out.append(style(_fit(f"  {w['text']}"), fg="yellow"))
        out.append(f"  balance {a['balance'] or '?'}   equity {a['equity'] or '?'}")
        for key in ("day", "week"):
            b = a[key]
            out.append(
                _fit(
                    f"  {key:<4} {b['label'][5:]}  realized {b['realized']}  "
                    f"unrealized {b['unrealized']}  net {b['net']}  fees {b['fees']}"
                )
            )
            if Decimal(b.get("hidden") or 0):
                out.append(_fit(f"       of it {b['hidden']} kept: a balance fall no trade listed"))
        for r in a["rules"]:
            pct = f"{r['fraction'] * 100:.0f}%"
            value, limit = _value(r["value"], r["unit"]), _value(r["limit"], r["unit"])
            unit = "" if r["unit"] in ("$", "s") else f" {r['unit']}"
            line = f"  {r['id']} {r['name']:<24.24} {value:>10} / {limit + unit:<16} {pct:>4}"
            if r["detail"] and r["id"] != "RULE-006":
                line += f"  {r['detail']}"
            out.append(style(_fit(line), fg=_colour(r["fraction"])))
            if LEFT_OUT in (r["detail"] or ""):  # room shown that a quote may take at once
                why = r["detail"].split("; ", 1)[-1]
                out.append(style(_fit(f"    {why}: it may fire at once"), fg="red"))
        if a["positions"]:
            for p in a["positions"]:
                age = p["mark_age_seconds"]
                quote = "no quote" if age is None else human(age) + " old"
                if p["stale"]:
                    quote = f"STALE, {quote}"
                contract = p["contract"].removeprefix("CON.F.US.")
                line = _fit(
                    f"  {contract:<9} {p['side']:<5} {p['size']:>3} @ {p['average_price']}  "
                    f"mark {p['mark'] or '-'} ({quote})  upnl {p['unrealized'] or '?'}"
                )
                out.append(style(line, fg="red") if p["stale"] else line)
        else:
            out.append("  positions: none")
        for c in a["contracts"]:
            until = f" until {_until(c['until'], tz, at)}" if c["until"] else ""
            every = f" (every {c['contract']} contract)" if c.get("root") else ""
            out.append(
                _fit(f"  contract {c['contract']}{every} {c['state']}{until} ({c['source']})")
            )
            out.extend(_then(c.get("then") or (), tz, at, indent="    "))
        out.append(f"  working orders: {a['working_orders']}")
    feed = snap.get("feed")
    if feed is not None:
        if feed["healthy"]:
            out.append(style("feed: healthy", fg="green") + f" ({feed['events']} events)")
        else:
            down = [a for a, up in feed["user_hub"].items() if not up]
            parts = [f"user hub down for {', '.join(down)}"] if down else []
            if not feed["market_hub"]:
                parts.append("market hub down")
            if feed["silent_contracts"]:
                parts.append(f"no quotes from {', '.join(feed['silent_contracts'])}")
            if feed.get("authenticated") is False:
                parts.append("login refused: the gateway refuses the service's token")
            if feed.get("blind"):
                parts.append(f"BLIND to {', '.join(feed['blind'])} records (refused repeatedly)")
            if feed.get("incomplete_reads"):
                parts.append(f"reads not used: {', '.join(feed['incomplete_reads'])}")
            failing = feed.get("reads_failing") or {}
            if failing:
                parts.append(f"reads failing for {', '.join(failing)}")
            line = _fit("feed: DEGRADED (" + "; ".join(parts) + ")")
            out.append(style(line, fg="red", bold=True))
            for cid, p in (feed.get("priced_by_reads") or {}).items():
                line = (
                    f"  {cid} priced by reads of the gateway's bars since "
                    f"{_clock(p['since'], tz)}: {p['reads']} read(s), last {p['price']}"
                )
                out.append(style(_fit(line), fg="red"))
            for account, f in failing.items():
                line = (
                    f"  reads of account {account} failing: nothing confirmed since "
                    f"{_clock(f['since'], tz)}"
                )
                out.append(style(_fit(line), fg="red"))
                out.append(_fit(f"    {reads_detail(f)}"))
        if feed.get("reads_held_back"):
            line = (
                "requests: the gateway's limit for this API key is full (another program on "
                f"the key?): reads held back {feed['reads_held_back']} s more; closes and "
                "cancels still go"
            )
            out.append(style(_fit(line), fg="yellow", bold=True))
        skew = feed.get("clock_skew_seconds")
        if skew:
            way = "behind" if skew > 0 else "ahead of"
            out.append(
                style(f"clock: {abs(skew):.1f} s {way} the gateway's", fg="yellow")
                + " (quotes judged on the gateway's time; synchronise this machine's clock)"
            )
        if feed["malformed_payloads"]:
            kinds = ", ".join(f"{k} {n}" for k, n in feed.get("refused_by_kind", {}).items())
            out.append(f"malformed payloads skipped: {feed['malformed_payloads']} ({kinds})")
        if feed.get("diverged"):
            out.append(f"periodic reads that found what the live feed missed: {feed['diverged']}")
    pending = snap.get("pending_settings")
    if pending:
        out.append(
            style("settings: looser values held", fg="yellow")
            + f" until the daily reset at {_local(pending['applies_at'], tz)}: "
            + "; ".join(pending["changes"])
        )
    out.append(
        _fit(
            f"resets: daily {_local(snap['next_daily_reset'], tz, short=True)}, weekly "
            f"{_local(snap['next_weekly_reset'], tz, short=True)}  (from the {source})"
        )
    )
    return "\n".join(out) + "\n"


# --- history ------------------------------------------------------------------------------


def audit_row(e: Any) -> dict[str, Any]:
    """One audit entry as a JSON-able row (the dashboard's rows leave out ``account``)."""
    return {
        "at": e.at.isoformat(),
        "account": e.account_id,
        "contract": e.contract_id,
        "from": e.from_state.value,
        "to": e.to_state.value,
        "trigger": e.trigger,
        "rule": e.rule_id,
        "reason": e.reason,
        "actor": e.actor,
    }


def audit_rows(entries: Iterable[Any]) -> list[dict[str, Any]]:
    """Audit entries as JSON-able rows (what `history --json` prints, one per line)."""
    return [audit_row(e) for e in entries]


def render_history(rows: list[dict[str, Any]], tz: str) -> str:
    if not rows:
        return "no transitions recorded yet\n"
    zone = ZoneInfo(tz)
    out = []
    for r in rows:
        at = datetime.fromisoformat(r["at"]).astimezone(zone)
        scope = f"{r['account']}" + (f" {r['contract']}" if r["contract"] else "")
        out.append(
            f"{at:%Y-%m-%d %H:%M:%S %Z}  {scope:<28} {r['from']:>12} -> "
            f"{r['to']:<12} {r['trigger']:<14} {r['rule'] or '-':<10} {r['actor']:<14} "
            f"{r['reason']}"
        )
    return "\n".join(out) + "\n"


def reads_detail(failing: dict[str, Any]) -> str:
    """How an account's reads fail (an entry of the feed health's ``reads_failing``)."""
    if failing.get("failures"):
        return f"{failing['failures']} failed in a row, the last {failing['error']}"
    return "no answer: reads held back or hung"


def _clock(iso: str | None, tz: str) -> str:
    """An instant of the snapshot as the time of day in the display zone (``?``: none)."""
    if not iso:
        return "?"
    return datetime.fromisoformat(iso).astimezone(ZoneInfo(tz)).strftime("%H:%M:%S %Z")
