"""Every check between settings, in one place: values that are each valid on their own but
contradict one another (a per-position stop the daily limit always beats, a reserve that
leaves reads no budget, a dashboard open to the network without a token...).

`check` runs them all on loaded settings, once every key is valid; each problem is one line
naming the section and key to change and the setting it clashes with. Checks between rules
look only at the rules that are on.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING

from fsm_risk.errors import Problem
from fsm_risk.rules.base import RuleSettings
from fsm_risk.rules.rapid_fire import label

if TYPE_CHECKING:
    from fsm_risk.config import Settings

#: the addresses that reach only this machine
LOOPBACK = ("127.0.0.1", "::1", "localhost")
#: the shortest web token accepted
MIN_TOKEN = 16

Rules = dict[str, RuleSettings]


def check(file: str, settings: Settings) -> list[Problem]:
    """Every problem between the settings' sections and rules (empty: none)."""
    rules = {r.rule.name: r for r in settings.rules if r.enabled}
    problems: list[Problem] = []
    for c in SECTION_CHECKS:
        problems.extend(c(file, settings))
    for r in RULE_CHECKS:
        problems.extend(r(file, rules))
    return problems


# --- between sections ----------------------------------------------------------------------


def reserve_below_budget(file: str, s: Settings) -> list[Problem]:
    """Reads may never use the enforcement reserve: it must leave them some of the budget."""
    if s.broker.enforcement_reserve < s.broker.requests_per_minute:
        return []
    return [
        Problem(
            file,
            "broker",
            "enforcement_reserve",
            f"{s.broker.enforcement_reserve} must be below requests_per_minute "
            f"({s.broker.requests_per_minute})",
        )
    ]


def web_token_beyond_loopback(file: str, s: Settings) -> list[Problem]:
    """The dashboard shows every account: beyond loopback it needs a token, or it is refused."""
    web = s.web
    if not web.enabled:
        return []
    if web.token and len(web.token) < MIN_TOKEN:
        return [Problem(file, "web", "token", f"must be at least {MIN_TOKEN} characters")]
    if web.host not in LOOPBACK and not web.token:
        return [
            Problem(
                file,
                "web",
                "token",
                f"required when host is {web.host} (not loopback: "
                f"{', '.join(LOOPBACK)}): anyone who can reach it would see every account",
            )
        ]
    return []


def web_port_not_control_port(file: str, s: Settings) -> list[Problem]:
    """The dashboard and a loopback TCP control channel cannot listen on one port."""
    web, control = s.web, s.control
    if not web.enabled or control.resolved_transport != "tcp":
        return []
    if web.port == 0 or web.port != control.port:
        return []
    return [
        Problem(
            file,
            "web",
            "port",
            f"{web.port} is also the [control] port: give one of them another port (or 0)",
        )
    ]


def backoff_not_below_timeout(file: str, s: Settings) -> list[Problem]:
    """Re-sends wait close_timeout, doubling up to close_backoff_max: a cap below the first
    wait would silently replace it."""
    e = s.enforcement
    if e.close_backoff_max >= e.close_timeout:
        return []
    return [
        Problem(
            file,
            "enforcement",
            "close_backoff_max_seconds",
            f"{e.close_backoff_max.total_seconds():g} s is shorter than close_timeout_seconds "
            f"({e.close_timeout.total_seconds():g} s), which it would override",
        )
    ]


def paper_token_outlives_refresh(file: str, s: Settings) -> list[Problem]:
    """A paper login token that expires within the refresh margin would be renewed at every
    check, logging in again and again."""
    if s.paper is None or s.paper.token_lifetime > s.broker.token_refresh.total_seconds():
        return []
    return [
        Problem(
            file,
            "paper",
            "token_lifetime",
            f"{s.paper.token_lifetime:g} s is not longer than [broker] token_refresh_seconds "
            f"({s.broker.token_refresh.total_seconds():g} s): the service would log in again "
            "at every check",
        )
    ]


SECTION_CHECKS: list[Callable[[str, Settings], list[Problem]]] = [
    reserve_below_budget,
    web_token_beyond_loopback,
    web_port_not_control_port,
    backoff_not_below_timeout,
    paper_token_outlives_refresh,
]


# --- between rules -------------------------------------------------------------------------


def per_instrument_within_account(file: str, rules: Rules) -> list[Problem]:
    """A per-root limit above the account's limit could never be reached."""
    account, per = rules.get("max_contracts"), rules.get("max_contracts_per_instrument")
    if account is None or per is None:
        return []
    limit = account.config.limit
    section = "rule.max_contracts_per_instrument"
    why = f"is above the account limit of {limit} in [rule.max_contracts]"
    problems = [
        Problem(file, section, "limits", f"{root}: {value} {why}")
        for root, value in sorted(per.config.limits.items())
        if value > limit
    ]
    if per.config.default_limit > limit:
        problems.append(
            Problem(file, section, "default_limit", f"{per.config.default_limit} {why}")
        )
    return problems


def hold_time_beyond_stop_grace(file: str, rules: Rules) -> list[Problem]:
    """A stop grace as long as the hold-time limit: the position is closed before it counts."""
    hold, stop = rules.get("position_hold_time"), rules.get("stop_loss_required")
    if hold is None or stop is None or stop.config.grace < hold.config.limit:
        return []
    grace = stop.config.grace.total_seconds()
    limit = hold.config.limit.total_seconds() / 60
    return [
        Problem(
            file,
            "rule.stop_loss_required",
            "grace_seconds",
            f"{grace:g} s is not shorter than the hold-time limit of {limit:g} min "
            "in [rule.position_hold_time]",
        )
    ]


def blocked_roots_not_limited(file: str, rules: Rules) -> list[Problem]:
    """A root both blocked and given a per-root limit: one of the two is a mistake."""
    block, per = rules.get("symbol_block"), rules.get("max_contracts_per_instrument")
    if block is None or per is None:
        return []
    clash = sorted(
        root
        for root in per.config.limits
        if any(fnmatch.fnmatchcase(root, pattern) for pattern in block.config.roots)
    )
    if not clash:
        return []
    return [
        Problem(
            file,
            "rule.symbol_block",
            "roots",
            f"blocks {', '.join(clash)}, which [rule.max_contracts_per_instrument] limits "
            "allow: remove one or the other",
        )
    ]


def stop_within_daily_loss(file: str, rules: Rules) -> list[Problem]:
    """A per-position stop must be tighter than the daily loss limit, or on a day that starts
    at zero the daily limit fires first (flattening everything and locking the day) and the
    stop never does."""
    return _below_the_day(
        file, rules, ("position_stop_loss", "limit", "limits"), ("daily_loss_limit", "limit")
    )


def take_profit_within_daily_target(file: str, rules: Rules) -> list[Problem]:
    """A per-position take-profit must be below the daily profit target, or on a day that
    starts at zero the daily target fires first (flattening everything) and the take-profit
    never does."""
    return _below_the_day(
        file,
        rules,
        ("position_take_profit", "target", "targets"),
        ("daily_profit_target", "target"),
    )


def _below_the_day(
    file: str, rules: Rules, position: tuple[str, str, str], day: tuple[str, str]
) -> list[Problem]:
    """A per-position amount (its default key and its per-root key) must be below the daily
    rule's amount; one problem per value that is not."""
    (name, key, per_root), (day_name, day_key) = position, day
    rule, daily = rules.get(name), rules.get(day_name)
    if rule is None or daily is None:
        return []
    bound: Decimal = getattr(daily.config, day_key)
    what = day_name.replace("_", " ").removeprefix("daily ")
    why = f"is not below the daily {what} of {bound} in [rule.{day_name}]"
    section = f"rule.{name}"
    problems = []
    value: Decimal = getattr(rule.config, key)
    if value >= bound:
        problems.append(Problem(file, section, key, f"{value} {why}"))
    for root, v in sorted(getattr(rule.config, per_root).items()):
        if v >= bound:
            problems.append(Problem(file, section, per_root, f"{root}: {v} {why}"))
    return problems


def windows_below_max_trades(file: str, rules: Rules) -> list[Problem]:
    """A rapid_fire window that allows as many entries as max_trades_per_day allows in a whole
    day can never fire first (the daily lock is stronger and comes on the same entry)."""
    fire, daily = rules.get("rapid_fire"), rules.get("max_trades_per_day")
    if fire is None or daily is None or daily.config.count != "entries":
        return []
    limit = daily.config.limit
    return [
        Problem(
            file,
            "rule.rapid_fire",
            "windows",
            f"{label(w.seconds)}: {w.limit} is not below the daily limit of {limit} entries "
            "in [rule.max_trades_per_day]",
        )
        for w in fire.config.windows
        if w.limit >= limit
    ]


def weekly_not_below_daily(file: str, rules: Rules) -> list[Problem]:
    """A weekly loss limit below the daily one pre-empts the daily limit on the first day of
    every week (almost always a typo)."""
    weekly, daily = rules.get("weekly_loss_limit"), rules.get("daily_loss_limit")
    if weekly is None or daily is None:
        return []
    week_limit: Decimal = weekly.config.limit
    day_limit: Decimal = daily.config.limit
    if week_limit >= day_limit:
        return []
    return [
        Problem(
            file,
            "rule.weekly_loss_limit",
            "limit",
            f"{week_limit} is below the daily loss limit of {day_limit} in "
            "[rule.daily_loss_limit]: it would fire before the daily limit on a week's first day",
        )
    ]


RULE_CHECKS: list[Callable[[str, Rules], list[Problem]]] = [
    per_instrument_within_account,
    hold_time_beyond_stop_grace,
    blocked_roots_not_limited,
    stop_within_daily_loss,
    take_profit_within_daily_target,
    windows_below_max_trades,
    weekly_not_below_daily,
]
