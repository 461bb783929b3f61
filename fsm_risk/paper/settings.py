"""The ``[paper]`` section of settings.ini: how the paper gateway behaves.

Every key is a `Field` in `PAPER_FIELDS`, parsed once by `fsm_risk.schema.parse_section`, so a
bad value is reported with the file, the section, the key and the reason. `PaperSettings`
is the frozen result; `PaperSettings()` holds the same defaults as an empty section.

The global configuration loader calls::

    values, problems = parse_section(file, "paper", PAPER_FIELDS, raw)
    settings = PaperSettings.from_values(values)

and the standalone command uses `load_paper_settings(path)`, which reads only ``[paper]``.
"""

from __future__ import annotations

import configparser
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from fsm_risk.core.instruments import GATEWAY_CODES
from fsm_risk.core.sessions import MarketHours
from fsm_risk.errors import Problem, SettingsError
from fsm_risk.paper.catalog import PRODUCTS, on_tick
from fsm_risk.schema import (
    Field,
    amount,
    boolean,
    choice,
    clock_time,
    decimal,
    integer,
    parse_section,
    raise_if,
    seconds,
    symbol_root,
)

SECTION = "paper"

# A fixed secret keeps tokens valid across restarts (the SDK never re-negotiates a hub after
# a 401). It protects nothing: the gateway is a loopback simulator with play money.
DEFAULT_JWT_SECRET = "fsm-risk-paper-gateway-hs256-signing-secret-v1"


@dataclass(frozen=True, slots=True)
class PaperAccount:
    """One simulated account. ``owner`` None means the configured username owns it."""

    id: int
    name: str
    balance: Decimal
    can_trade: bool = True
    owner: str | None = None


DEFAULT_ACCOUNTS = (PaperAccount(1001, "PAPER-1", Decimal("50000.00")),)
DEFAULT_FEES = {root: p.fee_per_side for root, p in PRODUCTS.items()}
#: the codes the real gateway writes in contract ids for these products (ES: EP, NQ: ENQ, ...)
REAL_PRODUCT_CODES = {root: GATEWAY_CODES[root] for root in PRODUCTS if root in GATEWAY_CODES}
DEFAULT_START_PRICES = {root: p.start_price for root, p in PRODUCTS.items()}


@dataclass(frozen=True, slots=True)
class PaperSettings:
    """Everything the paper gateway needs; use `dataclasses.replace` to vary it in tests."""

    host: str = "127.0.0.1"
    port: int = 8740
    username: str = "paper"
    api_key: str = ""  # empty: any key of 10 or more characters
    jwt_secret: str = DEFAULT_JWT_SECRET
    token_lifetime: float = 86400.0
    accounts: tuple[PaperAccount, ...] = DEFAULT_ACCOUNTS
    contract_month: str = "Z26"
    product_codes: Mapping[str, str] = field(default_factory=lambda: dict(REAL_PRODUCT_CODES))
    fees: Mapping[str, Decimal] = field(default_factory=lambda: dict(DEFAULT_FEES))
    start_prices: Mapping[str, Decimal] = field(default_factory=lambda: dict(DEFAULT_START_PRICES))
    price_mode: str = "random_walk"
    seed: int = 7
    quote_interval: float = 1.0
    quote_heartbeat: float = 5.0
    walk_step_ticks: int = 2
    spread_ticks: int = 1
    rate_limit: int = 200
    rate_limit_window: float = 60.0
    fill_delay: float = 0.0
    rest_latency: float = 0.0
    wrap_payloads: bool = False
    unique_custom_tags: bool = True
    profile: str = "production"
    commission: Decimal = Decimal("0.25")
    flat_time: time | None = time(15, 10)
    daily_loss_limit: Decimal = Decimal(0)
    bars_rate_limit: int = 50
    bars_rate_limit_window: float = 30.0
    login_refusal: str = "none"
    #: (closes, opens) in Chicago: the daily maintenance break (None: the market never closes)
    maintenance_break: tuple[time, time] | None = None

    @property
    def production(self) -> bool:
        return self.profile == "production"

    def market_hours(self) -> MarketHours | None:
        """When the market is closed: the maintenance break each day, and the weekend from
        Friday's break to Sunday's reopen, as CME Globex (None: never)."""
        if self.maintenance_break is None:
            return None
        closes, opens = self.maintenance_break
        return MarketHours("America/Chicago", opens=opens, closes=closes)

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> PaperSettings:
        """Build from the values `parse_section(..., PAPER_FIELDS, ...)` returned.

        Keys missing from ``values`` keep their defaults, so a partial dict is fine.
        """
        kwargs = {key: values[key] for key in _FIELD_NAMES if key in values}
        if "jwt_secret" in kwargs and not kwargs["jwt_secret"]:
            kwargs["jwt_secret"] = DEFAULT_JWT_SECRET
        if "fees" in kwargs:
            kwargs["fees"] = {**DEFAULT_FEES, **kwargs["fees"]}
        if "start_prices" in kwargs:
            kwargs["start_prices"] = {**DEFAULT_START_PRICES, **kwargs["start_prices"]}
        return cls(**kwargs)


_FIELD_NAMES = (
    "host",
    "port",
    "username",
    "api_key",
    "jwt_secret",
    "token_lifetime",
    "accounts",
    "contract_month",
    "product_codes",
    "fees",
    "start_prices",
    "price_mode",
    "seed",
    "quote_interval",
    "quote_heartbeat",
    "walk_step_ticks",
    "spread_ticks",
    "rate_limit",
    "rate_limit_window",
    "fill_delay",
    "rest_latency",
    "wrap_payloads",
    "unique_custom_tags",
    "profile",
    "commission",
    "flat_time",
    "daily_loss_limit",
    "bars_rate_limit",
    "bars_rate_limit_window",
    "login_refusal",
    "maintenance_break",
)


# --- parsers ---------------------------------------------------------------------------


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP addresses (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def loopback_host(value: str) -> str:
    if not is_loopback(value):
        raise ValueError(f"must be a loopback address such as 127.0.0.1, got '{value}'")
    return value


_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")


def _username(value: str) -> str:
    if not _NAME.match(value):
        raise ValueError(f"must be 1-64 letters, digits or _ . @ -, got '{value}'")
    return value


def _api_key(value: str) -> str:
    if value and len(value) < 10:
        raise ValueError("must be empty (any key of 10+ characters) or at least 10 characters")
    return value


def _jwt_secret(value: str) -> str:
    if value and len(value) < 32:
        raise ValueError("must be empty (the built-in secret) or at least 32 characters")
    return value


def _accounts(value: str) -> tuple[PaperAccount, ...]:
    """'1001: PAPER-1: 50000: true, 1002: PAPER-2: 25000: true: bob'."""
    accounts: list[PaperAccount] = []
    if not value.strip():
        raise ValueError("must list at least one account as 'id: name: balance: canTrade'")
    for entry in value.split(","):
        parts = [p.strip() for p in entry.split(":")]
        if not 3 <= len(parts) <= 5:
            raise ValueError(
                f"each account is 'id: name: balance[: canTrade[: owner]]', got '{entry.strip()}'"
            )
        id_text, name, balance_text = parts[:3]
        try:
            account_id = int(id_text)
        except ValueError:
            raise ValueError(f"account id must be a whole number, got '{id_text}'") from None
        if account_id <= 0:
            raise ValueError(f"account id must be positive, got '{id_text}'")
        if not _NAME.match(name):
            raise ValueError(f"account name must be 1-64 letters, digits or _ . @ -, got '{name}'")
        balance = amount(allow_zero=True)(balance_text)
        can_trade = boolean(parts[3]) if len(parts) > 3 else True
        owner = _username(parts[4]) if len(parts) > 4 else None
        if any(a.id == account_id for a in accounts):
            raise ValueError(f"names account id {account_id} twice")
        if any(a.name == name for a in accounts):
            raise ValueError(f"names account '{name}' twice")
        accounts.append(PaperAccount(account_id, name, balance, can_trade, owner))
    return tuple(accounts)


def _month(value: str) -> str:
    v = value.strip().upper()
    if not re.fullmatch(r"[FGHJKMNQUVXZ]\d{2}", v):
        raise ValueError(f"must be a month code and a two-digit year such as Z26, got '{value}'")
    return v


def _known_root(value: str) -> str:
    root = symbol_root(value)
    if root not in PRODUCTS:
        raise ValueError(f"unknown root '{value}' (known: {', '.join(PRODUCTS)})")
    return root


def _root_map(parse_value: Any, what: str) -> Any:
    def parse(value: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if not value.strip():
            return out
        for part in value.split(","):
            if ":" not in part:
                raise ValueError(f"must be a list of 'ROOT: {what}' pairs, got '{part.strip()}'")
            k, v = (s.strip() for s in part.split(":", 1))
            root = _known_root(k)
            if root in out:
                raise ValueError(f"names '{k}' twice")
            out[root] = parse_value(root, v)
        return out

    return parse


def _product_code(root: str, value: str) -> str:
    code = value.upper()
    if not re.fullmatch(r"[A-Z0-9]{1,6}", code):
        raise ValueError(f"product code for {root} must be 1-6 letters or digits, got '{value}'")
    return code


def _fee(root: str, value: str) -> Decimal:
    return amount(allow_zero=True)(value)


def _start_price(root: str, value: str) -> Decimal:
    price: Decimal = decimal(minimum=Decimal(0))(value)
    if price <= 0:
        raise ValueError(f"start price for {root} must be positive, got '{value}'")
    tick = PRODUCTS[root].tick_size
    if not on_tick(price, tick):
        raise ValueError(f"start price for {root} must be a multiple of its tick {tick}")
    return price


def _product_codes(value: str) -> dict[str, str]:
    codes: dict[str, str] = _root_map(_product_code, "CODE")(value)
    seen: dict[str, str] = {}
    for root in PRODUCTS:
        code = codes.get(root, root)
        if code in seen:
            raise ValueError(f"{root} and {seen[code]} would share the product code {code}")
        seen[code] = root
    return codes


def _optional_time(value: str) -> time | None:
    return clock_time(value) if value.strip() else None


def _break(value: str) -> tuple[time, time] | None:
    """'16:00-17:00' (Chicago): the market closes at the first time and opens at the second,
    the same day; empty: never closed."""
    if not value.strip():
        return None
    parts = [p.strip() for p in value.split("-")]
    if len(parts) != 2:
        raise ValueError(f"must be 'HH:MM-HH:MM' such as 16:00-17:00, or empty; got '{value}'")
    closes, opens = clock_time(parts[0]), clock_time(parts[1])
    if closes >= opens:
        raise ValueError(f"the break must end after it begins, the same day; got '{value}'")
    return closes, opens


def _positive_seconds(value: str) -> float:
    parsed: float = seconds(minimum=0.01, maximum=3600)(value)
    return parsed


_DEFAULT_FEES_TEXT = ", ".join(f"{r}: {f}" for r, f in DEFAULT_FEES.items())
_REAL_PRODUCT_CODES_TEXT = ", ".join(f"{r}: {c}" for r, c in REAL_PRODUCT_CODES.items())
_DEFAULT_PRICES_TEXT = ", ".join(f"{r}: {p}" for r, p in DEFAULT_START_PRICES.items())

PAPER_FIELDS: tuple[Field, ...] = (
    Field("host", loopback_host, "127.0.0.1", "Address to listen on; loopback only."),
    Field("port", integer(minimum=0, maximum=65535), "8740", "TCP port; 0 picks a free port."),
    Field("username", _username, "paper", "The ProjectX username login accepts."),
    Field(
        "api_key",
        _api_key,
        "",
        "The API key login accepts; empty accepts any key of 10 or more characters.",
    ),
    Field(
        "jwt_secret",
        _jwt_secret,
        "",
        "HS256 signing secret for tokens; empty uses a fixed built-in secret.",
    ),
    Field(
        "token_lifetime",
        seconds(minimum=60, maximum=30 * 86400),
        "86400",
        "Seconds a login token stays valid.",
    ),
    Field(
        "accounts",
        _accounts,
        "1001: PAPER-1: 50000.00: true",
        "Accounts as 'id: name: balance[: canTrade[: owner]]', comma-separated.",
    ),
    Field("contract_month", _month, "Z26", "Front month of every contract, e.g. Z26."),
    Field(
        "product_codes",
        _product_codes,
        _REAL_PRODUCT_CODES_TEXT,
        "Product codes used in contract ids instead of the root, as the real gateway lists "
        "them (an NQ contract is CON.F.US.ENQ.Z26); empty: the root is the code.",
    ),
    Field(
        "fees",
        _root_map(_fee, "dollars"),
        _DEFAULT_FEES_TEXT,
        "Fee in dollars per contract per side (each fill), by root.",
    ),
    Field(
        "start_prices",
        _root_map(_start_price, "price"),
        _DEFAULT_PRICES_TEXT,
        "Price each contract starts at, by root.",
    ),
    Field(
        "price_mode",
        choice("random_walk", "scripted"),
        "random_walk",
        "random_walk (seeded, reproducible) or scripted (moves only when told).",
    ),
    Field("seed", integer(), "7", "Seed of the random walk."),
    Field("quote_interval", _positive_seconds, "1.0", "Seconds between random-walk steps."),
    Field(
        "quote_heartbeat",
        seconds(minimum=0.1, maximum=10),
        "5.0",
        "Longest silence, in seconds, before a subscribed contract's quote is re-sent.",
    ),
    Field(
        "walk_step_ticks",
        integer(minimum=1, maximum=100),
        "2",
        "Largest random-walk step, in ticks.",
    ),
    Field("spread_ticks", integer(minimum=0, maximum=100), "1", "Bid/ask spread in ticks."),
    Field(
        "rate_limit",
        integer(minimum=0),
        "200",
        "REST requests allowed per token per window before HTTP 429; 0 turns it off.",
    ),
    Field("rate_limit_window", seconds(minimum=1, maximum=3600), "60", "Rate-limit window."),
    Field("fill_delay", seconds(minimum=0, maximum=3600), "0", "Seconds before any fill."),
    Field(
        "rest_latency",
        seconds(minimum=0, maximum=10),
        "0",
        "Seconds every REST request waits before it is handled: the round trip to a gateway "
        "across the internet (0: none, as on loopback).",
    ),
    Field(
        "wrap_payloads",
        boolean,
        "false",
        'Send user-hub payloads wrapped as {"action": n, "data": {...}}.',
    ),
    Field(
        "unique_custom_tags",
        boolean,
        "true",
        "Reject an order whose customTag was already used on the account.",
    ),
    Field(
        "login_refusal",
        choice("none", "api_subscription_not_found", "api_key_authentication_disabled"),
        "none",
        "Refuse every login as the real gateway does for an account without API access: "
        "api_subscription_not_found (errorCode 9) or api_key_authentication_disabled (10).",
    ),
    Field(
        "profile",
        choice("production", "simple"),
        "production",
        "production: the real gateway's shapes and habits; simple: a friendlier dialect.",
    ),
    Field(
        "commission",
        amount(allow_zero=True),
        "0.25",
        "Production: commission per contract per side, reported beside the fees.",
    ),
    Field(
        "flat_time",
        _optional_time,
        "15:10",
        "Production: Chicago time the platform flattens every account; empty: never.",
    ),
    Field(
        "maintenance_break",
        _break,
        "",
        "Chicago times the market closes and reopens each day, e.g. 16:00-17:00 (and from "
        "Friday's close to Sunday's reopen): every order placed then is refused, a close "
        "included, cancels are taken; empty: never (tests and benchmarks run at any hour).",
    ),
    Field(
        "daily_loss_limit",
        amount(allow_zero=True),
        "0",
        "Production: the firm's own daily loss that makes the platform flatten; 0: off.",
    ),
    Field(
        "bars_rate_limit",
        integer(minimum=0),
        "50",
        "Production: /History/retrieveBars requests per token per bars window; 0: off.",
    ),
    Field(
        "bars_rate_limit_window",
        seconds(minimum=1, maximum=3600),
        "30",
        "Production: the bar-history rate-limit window.",
    ),
)


def load_paper_settings(path: str | Path) -> PaperSettings:
    """Read only the ``[paper]`` section of a settings file (defaults when it is absent).

    Raises `SettingsError` naming the file, section, key and reason on any problem.
    """
    file = str(path)
    # Read as the global loader reads settings.ini: inline comments allowed, duplicates refused.
    parser = configparser.ConfigParser(
        interpolation=None, inline_comment_prefixes=("#", ";"), strict=True
    )
    try:
        with open(path, encoding="utf-8-sig") as handle:
            parser.read_file(handle)
    except FileNotFoundError:
        raise SettingsError([Problem(file, None, None, "file not found")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError([Problem(file, None, None, f"cannot read: {exc}")]) from None
    except configparser.Error as exc:
        reason = f"not a valid INI file: {str(exc).splitlines()[0]}"
        raise SettingsError([Problem(file, None, None, reason)]) from None
    raw = dict(parser[SECTION]) if parser.has_section(SECTION) else {}
    values, problems = parse_section(file, SECTION, PAPER_FIELDS, raw)
    raise_if(problems)
    return PaperSettings.from_values(values)
