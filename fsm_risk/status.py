"""The trader's view: what `fsm-risk status` shows, as JSON-able data and as text.

``snapshot`` reads an engine (restored from the database, or the running service's) and never
changes it. ``render`` colours each rule's usage: under 50% green, 50-80% yellow, over 80% red.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import click

from fsm_risk.core.engine import RiskEngine
from fsm_risk.core.models import AccountModel, strongest
from fsm_risk.core.pnl import mark_price
from fsm_risk.core.states import State


def snapshot(
    engine: RiskEngine, now: datetime, account_ids: list[int] | None = None
) -> dict[str, Any]:
    cal = engine.calendar
    accounts = [
        _account(engine, a, now)
        for i, a in sorted(engine.accounts.items())
        if account_ids is None or i in account_ids
    ]
    return {
        "at": now.isoformat(),
        "timezone": cal.tz,
        "next_daily_reset": cal.next_daily_reset(now).isoformat(),
        "next_weekly_reset": cal.next_weekly_reset(now).isoformat(),
        "accounts": accounts,
    }


def _money(v: Decimal | None) -> str | None:
    return None if v is None else f"{v:.2f}"


def _account(engine: RiskEngine, a: AccountModel, now: datetime) -> dict[str, Any]:
    best = strongest(a.holds)
    lock = None
    if best is not None:
        lock = {
            "kind": best.kind.value,
            "until": best.until.isoformat() if best.until else None,
            "left_seconds": int((best.until - now).total_seconds()) if best.until else None,
            "source": best.source,
            "reason": best.reason.name,
            "detail": best.detail,
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
                "stale": mark is None or now - mark.at > stale_after,
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
            "state": cm.state.value,
            "until": (h.until.isoformat() if (h := strongest(cm.holds)) and h.until else None),
            "source": h.source if (h := strongest(cm.holds)) else cm.rule_id,
        }
        for cid, cm in sorted(a.contracts.items())
        if cm.state is not State.Trading
    ]
    return {
        "account_id": a.account_id,
        "name": a.name,
        "state": a.state.value,
        "lock": lock,
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


def _book(a: AccountModel, now: datetime, *, weekly: bool) -> dict[str, Any]:
    book = a.week if weekly else a.day
    unrealized = a.open_upnl - book.carry
    return {
        "label": book.label.isoformat(),
        "realized": _money(book.realized),
        "unrealized": _money(unrealized),
        "net": _money(book.realized + unrealized),
        "fees": _money(book.fees),
        "ends": book.end.isoformat(),
    }


# --- text --------------------------------------------------------------------------------


def _colour(fraction: float) -> str:
    if fraction > 0.8:
        return "red"
    if fraction >= 0.5:
        return "yellow"
    return "green"


def _left(seconds: int | None) -> str:
    if seconds is None:
        return "until its condition ends"
    if seconds <= 0:
        return "ending now"
    d = timedelta(seconds=seconds)
    h, rem = divmod(d.seconds, 3600)
    return (
        f"{d.days}d {h}h {rem // 60}m left"
        if d.days
        else f"{h}h {rem // 60:02d}m {rem % 60:02d}s left"
    )


def _local(iso: str, tz: str) -> str:
    import pendulum

    moment = pendulum.instance(datetime.fromisoformat(iso)).in_timezone(tz)
    return str(moment.format("ddd YYYY-MM-DD HH:mm zz"))


def render(snap: dict[str, Any], *, color: bool = True, source: str = "database") -> str:
    tz = snap["timezone"]
    out: list[str] = []

    def style(text: str, **kw: Any) -> str:
        return click.style(text, **kw) if color else text

    if not snap["accounts"]:
        return "no account is monitored yet (start `fsm-risk serve`)\n"
    for a in snap["accounts"]:
        state = a["state"]
        state_colour = "green" if state == State.Trading.value else "red"
        head = f"Account {a['account_id']} {a['name']}  " + style(state, fg=state_colour, bold=True)
        lock = a["lock"]
        if lock:
            until = f" until {_local(lock['until'], tz)}" if lock["until"] else ""
            head += f"  ({_left(lock['left_seconds'])}{until}; {lock['source']} {lock['reason']})"
        if a["can_trade"] is False:
            head += style("  [gateway: cannot trade]", fg="red")
        out.append(head)
        out.append(f"  balance {a['balance'] or '?'}   equity {a['equity'] or '?'}")
        for key in ("day", "week"):
            b = a[key]
            out.append(
                f"  {key:<4} {b['label']}  realized {b['realized']}  unrealized {b['unrealized']}"
                f"  net {b['net']}  (fees {b['fees']})"
            )
        if a["rules"]:
            out.append("  rules")
            for r in a["rules"]:
                pct = f"{r['fraction'] * 100:5.0f}%"
                line = (
                    f"    {r['id']} {r['name']:<30} {r['value']:>12} / {r['limit']:<10} "
                    f"{r['unit']:<10} {pct}"
                )
                if r["detail"]:
                    line += f"  {r['detail']}"
                out.append(style(line, fg=_colour(r["fraction"])))
        if a["positions"]:
            out.append("  positions")
            for p in a["positions"]:
                age = p["mark_age_seconds"]
                quote = "no quote" if age is None else f"{age:.0f}s old"
                if p["stale"]:
                    quote = style(f"STALE ({quote})", fg="red")
                out.append(
                    f"    {p['contract']:<18} {p['side']:<5} {p['size']:>3} @ {p['average_price']}"
                    f"  mark {p['mark'] or '-'} ({quote})  unrealized {p['unrealized'] or '?'}"
                )
        else:
            out.append("  positions: none")
        for c in a["contracts"]:
            until = f" until {_local(c['until'], tz)}" if c["until"] else ""
            out.append(f"  contract {c['contract']} {c['state']}{until} ({c['source']})")
        out.append(f"  working orders: {a['working_orders']}")
        out.append("")
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
            if feed.get("blind"):
                parts.append(f"BLIND to {', '.join(feed['blind'])} records (refused repeatedly)")
            out.append(style("feed: DEGRADED", fg="red", bold=True) + f" ({'; '.join(parts)})")
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
        f"next daily reset {_local(snap['next_daily_reset'], tz)}; "
        f"next weekly reset {_local(snap['next_weekly_reset'], tz)}  (from the {source})"
    )
    return "\n".join(out) + "\n"
