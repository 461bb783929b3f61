"""settings.ini -> frozen, validated, typed settings.

Everything is validated once, at load: each key's type, sign and range, and unknown sections
and keys (a typo must never silently disable a rule); every problem with a key is reported
together. Then, once every key is valid, the checks between settings (`fsm_risk.crosschecks`).
Every problem names the file, the section, the key and the reason, and the service refuses to
start on a bad file. The result holds one typed object per section (`fsm_risk.sections`): this
module (with the paper gateway's own loader of its [paper] section) is the only one that reads
a section or key by its name.

Relative paths in the file are relative to the file's own folder.
"""

from __future__ import annotations

import configparser
import difflib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import time
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fsm_risk import anchor, crosschecks, schema, sections, textfile
from fsm_risk.core.engine import EngineSettings
from fsm_risk.core.instruments import KNOWN_ROOTS, known_root
from fsm_risk.core.models import InstrumentBook, Mark
from fsm_risk.core.sessions import MarketHours, SessionCalendar
from fsm_risk.errors import Problem, SettingsError
from fsm_risk.rules import ALL_RULES, BY_NAME
from fsm_risk.rules.base import Rule, RuleContext, RuleSettings
from fsm_risk.schema import Field

if TYPE_CHECKING:
    from fsm_risk.paper.settings import PaperSettings

RULE_PREFIX = "rule."
NOTIFY_PREFIX = "notify."

#: what a notification can be about (``[notify] events``)
NOTIFY_EVENTS = (
    "lock",
    "flattening",
    "warning",
    "flat_by",
    "enforcement",
    "feed",
    "service",
    "admin",
)


def _notify_urls(text: str) -> tuple[str, ...]:
    """Comma-separated apprise URLs; each must be one apprise supports. A reason never repeats
    the URL itself (it holds tokens): only its scheme."""
    urls = schema.str_list()(text)
    if not urls:
        return urls
    import apprise

    for i, url in enumerate(urls, 1):
        if apprise.Apprise.instantiate(url, suppress_exceptions=True) is None:
            scheme = url.split("://", 1)[0] if "://" in url else "none"
            if _apprise_has(scheme):
                raise ValueError(
                    f"URL {i} (scheme '{scheme}') is incomplete or malformed for apprise's "
                    f"'{scheme}' channel (see its URL format in apprise's documentation)"
                )
            raise ValueError(
                f"URL {i} (scheme '{scheme}') is not one apprise supports, e.g. "
                "json://host:port/path, ntfy://topic, tgram://bot_token/chat_id, mailto://..."
            )
    return urls


def _apprise_has(scheme: str) -> bool:
    """Whether apprise has a channel for ``scheme`` (False when this apprise cannot say)."""
    try:
        from apprise.manager_plugins import NotificationManager
    except ImportError:
        return False
    return scheme.lower() in NotificationManager()


def _notify_events(text: str) -> tuple[str, ...]:
    names = schema.str_list(str.lower)(text)
    if "all" in names:
        return NOTIFY_EVENTS
    for n in names:
        if n not in NOTIFY_EVENTS:
            raise ValueError(f"unknown event '{n}' (choices: all, {', '.join(NOTIFY_EVENTS)})")
    return names


def _percentages(text: str) -> tuple[int, ...]:
    values = schema.str_list(schema.integer(minimum=1, maximum=99))(text)
    if list(values) != sorted(set(values)):
        raise ValueError("must be increasing percentages, e.g. '50, 80, 90'")
    return values


NOTIFY_ACCOUNT_FIELDS = (
    Field("urls", _notify_urls, "", "apprise URLs for this account only, comma-separated"),
    Field(
        "events",
        _notify_events,
        "all",
        f"which events of this account they get: all, or some of {', '.join(NOTIFY_EVENTS)}",
    ),
)

ENABLED = Field("enabled", schema.boolean, "true", "true to enforce this rule, false to ignore it")


def waiver_rearm(text: str) -> str:
    """``limit``, a share of the rule's limit (``50%``) or a dollar amount (``250``)."""
    t = text.strip().lower()
    if t == "limit":
        return t
    if t.endswith("%"):
        share = schema.decimal(minimum=Decimal(1), maximum=Decimal(1000))(t[:-1].strip())
        return f"{share}%"
    try:
        return str(schema.amount()(t.lstrip("$")))
    except ValueError:
        raise ValueError(
            f"must be 'limit', a share of the limit like '50%' or dollars like '250', got {text!r}"
        ) from None


#: the fewest days of fills a retention may keep: this trading week and the last
MIN_FILL_RETENTION_DAYS = 14
#: a century: longer is a typo (and beyond what a date can count back)
MAX_FILL_RETENTION_DAYS = 36500


def _retention_days(text: str) -> int:
    days: int = schema.integer(minimum=0, maximum=MAX_FILL_RETENTION_DAYS)(text)
    if 0 < days < MIN_FILL_RETENTION_DAYS:
        raise ValueError(
            f"must be 0 (keep every fill) or at least {MIN_FILL_RETENTION_DAYS} (this trading "
            f"week and the last are always needed), got '{text}'"
        )
    return days


SECTIONS: dict[str, tuple[Field, ...]] = {
    "general": (
        Field(
            "database",
            schema.database,
            "var/fsm-risk.db",
            "SQLite file holding all state (relative paths: from this file's folder), or a "
            "PostgreSQL server: postgresql://USER:PASSWORD@HOST:PORT/DBNAME",
        ),
        Field("log_file", schema.nonempty, "var/fsm-risk.log", "structured (JSON lines) log file"),
        Field(
            "accounts",
            schema.str_list(),
            "",
            "account ids or names to monitor, comma-separated (one the gateway does not list "
            "stops serve); empty = every active account",
        ),
        Field(
            "display_timezone",
            lambda t: schema.timezone(t) if t else "",
            "",
            "IANA zone status, history and messages show times in; empty = [session] timezone",
        ),
        Field(
            "fill_retention_days",
            _retention_days,
            "0",
            "days of fills kept in the database, compacted at start (0 = keep every fill); "
            "this trading week and the last are always kept, the audit log always whole",
        ),
    ),
    "session": (
        Field("timezone", schema.timezone, "America/Chicago", "IANA zone of the resets"),
        Field("daily_reset", schema.clock_time, "17:00", "local time the trading day ends"),
        Field("weekly_reset", schema.weekday_time, "Sun 17:00", "local day and time of the reset"),
    ),
    "market": (
        Field(
            "mark",
            schema.choice("last", "liquidation"),
            "last",
            "last: last trade price; liquidation: bid for longs, ask for shorts",
        ),
        Field(
            "stale_after_seconds",
            schema.seconds(minimum=1, maximum=86400),
            "30",
            "a quote older than this is stale: never the reason a rule fires (see the README)",
        ),
    ),
    "enforcement": (
        Field(
            "close_timeout_seconds",
            schema.seconds(minimum=1, maximum=600),
            "10",
            "a close not confirmed flat after this is re-sent (doubling, see next key)",
        ),
        Field(
            "close_backoff_max_seconds",
            schema.seconds(minimum=1, maximum=3600),
            "60",
            "the longest wait between two re-sends (not below close_timeout_seconds)",
        ),
        Field(
            "alert_after_attempts",
            schema.integer(minimum=1, maximum=100),
            "3",
            "raise a critical alert after this many closes have not flattened",
        ),
        Field(
            "cancel_timeout_seconds",
            schema.seconds(minimum=1, maximum=600),
            "10",
            "a cancel not confirmed after this is re-sent",
        ),
        Field(
            "admin_cooldown_minutes",
            schema.integer(minimum=1, maximum=10080),
            "30",
            "length of a Cooldown forced by an admin without --minutes",
        ),
        Field(
            "failsafe_lock",
            schema.choice("lockeddaily", "lockedweekly"),
            "LockedDaily",
            "the lock an account enters when handling it fails unexpectedly",
        ),
    ),
    "broker": (
        Field(
            "credentials_file",
            schema.text,
            "",
            "file with 'username = ...' and 'api_key = ...' lines (never logged); empty: the "
            "PROJECT_X_USERNAME and PROJECT_X_API_KEY variables; neither: the paper gateway",
        ),
        Field(
            "api_url",
            schema.text,
            "",
            "ProjectX REST base URL incl. /api; empty: $PROJECTX_API_URL or TopstepX's",
        ),
        Field("user_hub_url", schema.text, "", "user hub URL; empty: $PROJECTX_USER_HUB_URL"),
        Field("market_hub_url", schema.text, "", "market hub URL; empty: $PROJECTX_MARKET_HUB_URL"),
        Field(
            "requests_per_minute",
            schema.integer(minimum=10, maximum=10000),
            "200",
            "REST requests per 60 s the gateway allows per key (ProjectX: 200)",
        ),
        Field(
            "enforcement_reserve",
            schema.integer(minimum=0, maximum=1000),
            "50",
            "share of that budget kept for closes and cancels: ordinary reads use the rest",
        ),
        Field(
            "token_refresh_seconds",
            schema.seconds(minimum=1, maximum=43200),
            "600",
            "log in again this long before the session token expires (REST and both hubs)",
        ),
        Field(
            "feed_silence_seconds",
            schema.seconds(minimum=5, maximum=86400),
            "30",
            "a watched contract with no quote for this long marks the feed degraded and is "
            "priced by reads of the gateway's bars until quotes come back",
        ),
        Field(
            "quote_linger_seconds",
            schema.seconds(minimum=0, maximum=86400),
            "300",
            "keep a contract's quotes subscribed this long after the last account holding it "
            "went flat (a trader coming back needs no new subscription; 0: drop at once)",
        ),
        Field(
            "reconcile_interval_seconds",
            schema.seconds(minimum=0, maximum=3600),
            "10",
            "re-read positions, working orders and trades over REST this often, whatever the "
            "live feed says (0: never); stretched to stay within half of the read budget",
        ),
    ),
    "control": (
        Field(
            "socket",
            schema.nonempty,
            "var/fsm-risk.sock",
            "Unix socket of the running service's control channel (owner-only)",
        ),
        Field(
            "transport",
            schema.choice("auto", "unix", "tcp"),
            "auto",
            "unix: the socket above; tcp: loopback TCP with the token below; "
            "auto: unix where the platform has it (not on Windows), else tcp",
        ),
        Field(
            "port",
            schema.integer(minimum=0, maximum=65535),
            "0",
            "loopback TCP port of the control channel (0: any free port, found by the CLI)",
        ),
        Field(
            "token_file",
            schema.nonempty,
            "var/fsm-risk.control-token",
            "per-install token every TCP control request carries; created owner-only (keep it "
            "readable by the admin alone)",
        ),
    ),
    "notify": (
        Field(
            "urls",
            _notify_urls,
            "",
            "apprise URLs told about every account, comma-separated (Discord, Telegram, email, "
            "ntfy, Pushover, Slack, json:// webhooks...); empty: no notifications. Per account: "
            "a [notify.ACCOUNT] section (id or name) with its own urls and events",
        ),
        Field(
            "events",
            _notify_events,
            "all",
            f"which events they get: all, or some of {', '.join(NOTIFY_EVENTS)}",
        ),
        Field(
            "warn_at",
            _percentages,
            "50, 80, 90",
            "early warnings at these percentages of the daily loss limit, the trailing "
            "drawdown, the trades per day and the weekly loss limit (once per threshold per day "
            "or week)",
        ),
        Field(
            "flat_by_warning_minutes",
            schema.integer(minimum=1, maximum=240),
            "10",
            "warn this many minutes before the flat-by time while positions are open",
        ),
        Field(
            "per_minute",
            schema.integer(minimum=1, maximum=600),
            "20",
            "most notifications sent to each URL per minute; more wait their turn",
        ),
        Field(
            "retries",
            schema.integer(minimum=0, maximum=10),
            "3",
            "re-sends of a refused notification (waiting 1, 2, 4... s between them)",
        ),
    ),
    "web": (
        Field(
            "enabled",
            schema.boolean,
            "true",
            "serve the read-only dashboard, /metrics, /healthz and /readyz while `serve` runs",
        ),
        Field(
            "host",
            schema.nonempty,
            "127.0.0.1",
            "address to listen on; any address but loopback needs a token",
        ),
        Field("port", schema.integer(minimum=0, maximum=65535), "8742", "TCP port; 0: any free"),
        Field(
            "token",
            schema.text,
            "",
            "access token (16+ characters) for the dashboard and /metrics: open "
            "http://HOST:PORT/?token=TOKEN; required unless host is loopback",
        ),
    ),
    "journal": (
        Field(
            "enabled",
            schema.boolean,
            "true",
            "record every event the service handles, for `fsm-risk replay`",
        ),
        Field(
            "retention_days",
            schema.integer(minimum=1, maximum=3650),
            "31",
            "journal rows older than this many days are deleted",
        ),
    ),
    "admin": (
        Field(
            "max_failures",
            schema.integer(minimum=1, maximum=100),
            "5",
            "the wait before a check doubles with each wrong secret in the window, up to this many",
        ),
        Field(
            "failure_window_seconds",
            schema.seconds(minimum=1, maximum=30 * 86400),
            "900",
            "the window in which wrong secrets are counted (older ones cost nothing)",
        ),
        Field(
            "failure_delay_seconds",
            schema.seconds(minimum=0, maximum=10),
            "1",
            "the wait after one wrong secret (doubling with each more, at most 30 s)",
        ),
        Field(
            "waiver_rearm",
            waiver_rearm,
            "limit",
            "an override waives a loss rule only this far past its value at the waiver: "
            "limit (one rule limit deeper), a share of it (50%) or dollars (250)",
        ),
        Field(
            "secret_anchor",
            anchor.parse,
            "",
            "the admin secret's salted hash, kept here, outside the database: when set, only "
            "a secret matching it is the admin's, whatever the database holds (written by "
            "'fsm-risk admin anchor'; keep this file unwritable by the trader)",
        ),
    ),
}


@dataclass(frozen=True)
class Settings:
    """A validated settings file: one typed object per section (read their attributes; no
    section or key is ever looked up by name outside this module)."""

    path: Path
    general: sections.General
    session: sections.Session
    market: sections.Market
    enforcement: sections.Enforcement
    broker: sections.Broker
    control: sections.Control
    notify: sections.Notify
    web: sections.Web
    journal: sections.Journal
    admin: sections.Admin
    rules: tuple[RuleSettings, ...]
    paper: PaperSettings | None = None
    #: [notify.ACCOUNT] sections by account id or name
    notify_accounts: Mapping[str, sections.NotifyTarget] = field(default_factory=dict)
    #: the [rule.*] sections as written (rule name -> key -> text), to compare and store them
    raw_rules: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    #: each section's parsed values by key, as `describe` prints them back
    parsed: Mapping[str, Mapping[str, Any]] = field(default_factory=dict, repr=False)
    #: the service watches the built-in paper gateway (`serve` without credentials, `--paper`,
    #: `--demo`): the market's hours are that gateway's (`[paper] maintenance_break`; none:
    #: always open), not CME Globex's, which a real gateway keeps
    on_paper: bool = False

    def resolve(self, value: str) -> Path:
        return _resolve(self.path, value)

    @property
    def database(self) -> Path | str:
        """The SQLite file (a path), or the PostgreSQL server's URL as written."""
        return self.general.database

    @property
    def database_missing(self) -> bool:
        """True when the SQLite file does not exist yet (nothing was ever stored there). A
        PostgreSQL server is never missing here: connecting to it says what is wrong."""
        database = self.general.database
        return isinstance(database, Path) and not database.exists()

    @property
    def control_socket(self) -> Path:
        return self.control.socket

    @property
    def display_timezone(self) -> str:
        """The one time zone status, history and messages show (default: the session's)."""
        return self.general.display_timezone

    @property
    def control_transport(self) -> str:
        """'unix' or 'tcp' ('auto' resolved for this platform)."""
        return self.control.resolved_transport

    @property
    def control_token_file(self) -> Path:
        return self.control.token_file

    @property
    def log_file(self) -> Path:
        return self.general.log_file

    def calendar(self) -> SessionCalendar:
        return self.session.calendar()

    def engine_settings(self) -> EngineSettings:
        m, e, rearm = self.market, self.enforcement, self.admin.waiver_rearm
        return EngineSettings(
            calendar=self.calendar(),
            mark_mode=m.mark,
            stale_after=m.stale_after,
            close_timeout=e.close_timeout,
            close_backoff_max=e.close_backoff_max,
            alert_after_attempts=e.alert_after_attempts,
            cancel_timeout=e.cancel_timeout,
            admin_cooldown=e.admin_cooldown,
            failsafe_lock=e.failsafe_lock,
            rearm_share=rearm.share,
            rearm_amount=rearm.amount,
            known_roots=frozenset(self.known_roots()),
            display_tz=self.display_timezone,
            market=self.market_hours(),
        )

    def market_hours(self) -> MarketHours | None:
        """When the gateway watched refuses orders: CME Globex's hours, or on the built-in paper
        gateway (`on_paper`) its own (None: it never closes)."""
        if not self.on_paper:
            return MarketHours()
        return self.paper.market_hours() if self.paper is not None else None

    def known_roots(self) -> set[str]:
        """The symbol roots the settings name (per-root limits, blocked roots, paper codes)."""
        roots: set[str] = set()
        for r in self.rules:
            for value in r.values.values():
                if isinstance(value, dict):  # (a root's keys are text: tiers and windows' not)
                    roots.update(k.upper() for k in value if isinstance(k, str))
            if r.rule.name == "symbol_block":
                roots.update(x.upper() for x in r.values.get("roots", ()) if "*" not in x)
        paper = self.paper
        if paper is not None:
            roots.update(str(k).upper() for k in getattr(paper, "product_codes", {}))
        return roots

    def enabled_rules(self) -> Iterator[RuleSettings]:
        return (r for r in self.rules if r.enabled)

    def build_rules(self, ctx: RuleContext) -> list[Rule]:
        return [r.rule(r.config, ctx) for r in self.enabled_rules()]

    def rule(self, name: str) -> RuleSettings | None:
        return next((r for r in self.rules if r.rule.name == name), None)


def unknown_roots(settings: Settings) -> list[str]:
    """One line per symbol root a [rule.*] section names that the service does not know:
    neither a root of its table nor a gateway product code. It may be a real root the table
    lacks, so it is accepted; `fsm-risk check` and the service's log (start-up, reload) name
    it, so that a typo (``MESS``) does not silently leave the root meant at its default."""
    lines = []
    for r in settings.rules:
        if r.rule.name not in settings.raw_rules:
            continue
        for f in r.rule.fields:
            for root in r.values.get(f.key, ()) if f.roots else ():
                if known_root(root) or any(c in root for c in "*?["):
                    continue
                close = difflib.get_close_matches(root, sorted(KNOWN_ROOTS), n=1, cutoff=0.6)
                meant = f" (did you mean {close[0]}?)" if close else ""
                lines.append(
                    f"[{RULE_PREFIX}{r.rule.name}] {f.key}: {root} is not a root the service "
                    f"knows{meant}; kept, it holds only on contracts whose root is {root}"
                )
    return lines


def _resolve(settings_file: Path, value: str) -> Path:
    """A path from the settings, relative to the settings file's folder."""
    p = Path(value).expanduser()
    return p if p.is_absolute() else (settings_file.parent / p)


def _typed(path: Path, values: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Every section's typed object from its parsed values (which are all valid)."""
    g, b, c = values["general"], values["broker"], values["control"]
    database = (
        g["database"] if schema.is_server_url(g["database"]) else _resolve(path, g["database"])
    )
    given: dict[str, dict[str, Any]] = {
        "general": {
            "database": database,
            "log_file": _resolve(path, g["log_file"]),
            "display_timezone": g["display_timezone"] or values["session"]["timezone"],
        },
        "broker": {
            "credentials_file": _resolve(path, b["credentials_file"])
            if b["credentials_file"]
            else None
        },
        "control": {
            "socket": _resolve(path, c["socket"]),
            "token_file": _resolve(path, c["token_file"]),
        },
    }
    return {
        name: sections.build(cls, values[name], **given.get(name, {}))
        for name, cls in sections.TYPES.items()
    }


def build_rule(
    cls: type[Rule], ctx: RuleContext, raw: Mapping[str, str] | None = None, file: str = "<test>"
) -> Rule:
    """One rule from raw key/values (defaults for the rest); raises SettingsError."""
    values, problems = schema.parse_section(file, RULE_PREFIX + cls.name, cls.fields, raw or {})
    schema.raise_if(problems)
    try:
        config = cls.configure(values)
    except ValueError as exc:
        raise SettingsError([_keyed(file, RULE_PREFIX + cls.name, str(exc))]) from None
    return cls(config, ctx)


def default_context(settings: Settings | None = None) -> RuleContext:
    eng = settings.engine_settings() if settings else EngineSettings(SessionCalendar())
    marks: dict[str, Mark] = {}
    return RuleContext.of(eng, InstrumentBook(), marks)


def load(path: str | Path) -> Settings:
    """Read and validate a settings file. Raises `SettingsError` listing every problem."""
    p = Path(path)
    name = str(p)
    if not p.exists():
        raise SettingsError([Problem(name, None, None, "settings file not found")])
    if not p.is_file():
        raise SettingsError([Problem(name, None, None, "is not a file")])
    try:
        text = textfile.read(p)
    except (OSError, textfile.NotText) as exc:
        raise SettingsError([Problem(name, None, None, f"cannot be read: {exc}")]) from None
    return parse(text, p)


def parse(text: str, path: str | Path = "settings.ini") -> Settings:
    p = Path(path)
    file = str(p)
    parser = configparser.ConfigParser(
        interpolation=None, inline_comment_prefixes=("#", ";"), strict=True
    )
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    try:
        parser.read_string(text, source=file)
    except configparser.DuplicateSectionError as exc:
        raise SettingsError([Problem(file, exc.section, None, "section appears twice")]) from None
    except configparser.DuplicateOptionError as exc:
        raise SettingsError([Problem(file, exc.section, exc.option, "key appears twice")]) from None
    except configparser.MissingSectionHeaderError as exc:
        raise SettingsError(
            [Problem(file, None, None, f"line {exc.lineno}: a key outside any [section]")]
        ) from None
    except configparser.ParsingError as exc:  # (its text repeats the line: it may be a secret)
        lines = ", ".join(str(n) for n, _ in exc.errors)
        raise SettingsError(
            [Problem(file, None, None, f"line {lines}: not a 'key = value' line")]
        ) from None
    except configparser.Error as exc:
        raise SettingsError([Problem(file, None, None, _one_line(str(exc)))]) from None

    problems: list[Problem] = []
    parsed: dict[str, dict[str, Any]] = {}
    rules: list[RuleSettings] = []
    paper: Any = None
    seen_rules: set[str] = set()
    raw_rules: dict[str, dict[str, str]] = {}
    notify_accounts: dict[str, sections.NotifyTarget] = {}
    for section in parser.sections():
        raw = dict(parser[section])
        if section in SECTIONS:
            continue
        if section.startswith(NOTIFY_PREFIX) and section[len(NOTIFY_PREFIX) :].strip():
            values, found = schema.parse_section(file, section, NOTIFY_ACCOUNT_FIELDS, raw)
            problems.extend(found)
            if not found:
                target = sections.build(sections.NotifyTarget, values)
                notify_accounts[section[len(NOTIFY_PREFIX) :].strip()] = target
            continue
        if section == "paper":
            paper = _paper(file, raw, problems, parsed)
            continue
        if section.startswith(RULE_PREFIX):
            rule_name = section[len(RULE_PREFIX) :]
            cls = BY_NAME.get(rule_name)
            if cls is None:
                known = ", ".join(r.name for r in ALL_RULES)
                problems.append(Problem(file, section, None, f"unknown rule (rules: {known})"))
                continue
            seen_rules.add(rule_name)
            raw_rules[rule_name] = raw
            rules.append(_rule(file, section, cls, raw, problems))
            continue
        hint = _hint(section)
        problems.append(Problem(file, section, None, "unknown section" + hint))
    for name, fields in SECTIONS.items():
        raw = dict(parser[name]) if parser.has_section(name) else {}
        values, found = schema.parse_section(file, name, fields, raw)
        problems.extend(found)
        parsed[name] = values
    for cls in ALL_RULES:
        if cls.name not in seen_rules:
            values, _ = schema.parse_section(file, RULE_PREFIX + cls.name, cls.fields, {})
            rules.append(RuleSettings(cls, False, None, values))
    rules.sort(key=lambda r: r.rule.id)
    if paper is None and not problems:
        paper = _paper(file, {}, problems, parsed)
    if problems:
        raise SettingsError(problems)
    settings = Settings(
        path=p.resolve(),
        **_typed(p.resolve(), parsed),
        rules=tuple(rules),
        paper=paper,
        notify_accounts=notify_accounts,
        raw_rules=raw_rules,
        parsed=parsed,
    )
    schema.raise_if(crosschecks.check(file, settings))
    return settings


def with_rules(settings: Settings, raw_rules: Mapping[str, Mapping[str, str]]) -> Settings:
    """``settings`` with its [rule.*] sections replaced by ``raw_rules`` (as written in a file:
    rule name -> key -> text; a rule not listed is off). Each rule is validated as at load;
    the checks across rules are not run: a mix of the settings in force and a newer file is a
    passing state that only ever restricts more than one of the two (both were checked)."""
    file = str(settings.path)
    problems: list[Problem] = []
    rules: list[RuleSettings] = []
    for cls in ALL_RULES:
        raw = raw_rules.get(cls.name)
        if raw is None:
            values, _ = schema.parse_section(file, RULE_PREFIX + cls.name, cls.fields, {})
            rules.append(RuleSettings(cls, False, None, values))
        else:
            rules.append(_rule(file, RULE_PREFIX + cls.name, cls, dict(raw), problems))
    unknown = sorted(set(raw_rules) - set(BY_NAME))
    known = ", ".join(r.name for r in ALL_RULES)
    problems.extend(
        Problem(file, RULE_PREFIX + n, None, f"unknown rule (rules: {known})") for n in unknown
    )
    schema.raise_if(problems)
    copied = {name: dict(values) for name, values in raw_rules.items()}
    return replace(settings, rules=tuple(rules), raw_rules=copied)


def with_rule_off(settings: Settings, rule: type[Rule]) -> Settings:
    """``settings`` with ``rule`` turned off (its other keys as written)."""
    raw = {name: dict(values) for name, values in settings.raw_rules.items()}
    if rule.name in raw:
        raw[rule.name]["enabled"] = "false"
    return with_rules(settings, raw)


def _rule(
    file: str, section: str, cls: type[Rule], raw: dict[str, str], problems: list[Problem]
) -> RuleSettings:
    values, found = schema.parse_section(file, section, (ENABLED, *cls.fields), raw)
    problems.extend(found)
    if found:
        return RuleSettings(cls, False, None, values)
    rule_values = {k: v for k, v in values.items() if k != "enabled"}
    try:
        config = cls.configure(rule_values)
    except ValueError as exc:
        problems.append(_keyed(file, section, str(exc)))
        return RuleSettings(cls, False, None, values)
    return RuleSettings(cls, values["enabled"], config, rule_values)


def _paper(
    file: str, raw: dict[str, str], problems: list[Problem], values_out: dict[str, Any]
) -> PaperSettings | None:
    from fsm_risk.paper.settings import PAPER_FIELDS, PaperSettings

    values, found = schema.parse_section(file, "paper", PAPER_FIELDS, raw)
    problems.extend(found)
    values_out["paper"] = values
    if found:
        return None
    try:
        return PaperSettings.from_values(values)
    except ValueError as exc:
        problems.append(_keyed(file, "paper", str(exc)))
        return None


def _keyed(file: str, section: str, message: str) -> Problem:
    """'key: reason' from configure() -> a Problem naming that key."""
    key, sep, reason = message.partition(": ")
    if sep and " " not in key:
        return Problem(file, section, key, reason)
    return Problem(file, section, None, message)


def _hint(section: str) -> str:
    """The section meant, or else every section there is."""
    import difflib

    names = [*SECTIONS, "paper", *(RULE_PREFIX + r.name for r in ALL_RULES)]
    match = difflib.get_close_matches(section, names, n=1, cutoff=0.7)
    if match:
        return f" (did you mean [{match[0]}]?)"
    every = [*SECTIONS, "paper", f"{NOTIFY_PREFIX}ACCOUNT", f"{RULE_PREFIX}RULE"]
    return f" (sections: {', '.join(every)}; rules: {', '.join(r.name for r in ALL_RULES)})"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def changed_keys(running: Settings, file: Settings) -> list[str]:
    """The keys of the sections other than [rule.*] whose values differ, as '[section] key'."""
    out: list[str] = []
    for section in SECTIONS:
        now, then = running.parsed.get(section, {}), file.parsed.get(section, {})
        out.extend(f"[{section}] {key}" for key, value in then.items() if now.get(key) != value)
    return out


def control_socket_of(settings_file: Path, default: str) -> Path | None:
    """``[control] socket`` read straight from a settings file, without loading the rest
    (relative paths: from its folder); None when the control channel is loopback TCP. A
    broken file gives the defaults here: the full loader says what is wrong with it."""
    import contextlib
    import sys

    parser = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=("#", ";"))
    with contextlib.suppress(configparser.Error, OSError, textfile.NotText):
        parser.read_string(textfile.read(settings_file))
    transport = parser.get("control", "transport", fallback="auto").strip().lower()
    if transport == "tcp" or (transport == "auto" and sys.platform == "win32"):
        return None
    value = parser.get("control", "socket", fallback="") or default
    return _resolve(settings_file.resolve(), value)


def describe(settings: Settings) -> str:
    """The effective configuration, as `fsm-risk check` prints it: valid settings.ini text
    that loads back to the same settings. A secret is never printed: a secret that is set
    appears as a comment (and so loads back as its default)."""
    lines = [f"# effective configuration of {settings.path}"]
    for name, fields in SECTIONS.items():
        lines.append(f"[{name}]")
        for f in fields:
            lines.append(_hidden(name, f.key, settings.parsed[name][f.key]))
        lines.append("")
    for account, target in settings.notify_accounts.items():
        lines.append(f"[{NOTIFY_PREFIX}{account}]")
        lines.append(_hidden("notify", "urls", target.urls))
        lines.append(_hidden("notify", "events", target.events))
        lines.append("")
    if "paper" in settings.parsed:
        lines.append("[paper]")
        for key, value in settings.parsed["paper"].items():
            lines.append(_masked(key, value))
        lines.append("")
    for r in settings.rules:
        lines.append(f"[{RULE_PREFIX}{r.rule.name}]  # {r.rule.id}")
        lines.append(f"enabled = {'true' if r.enabled else 'false'}")
        for f in r.rule.fields:
            lines.append(f"{f.key} = {_show(r.values.get(f.key))}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


_SECRET_KEYS = ("secret", "password", "api_key", "apikey", "token_", "key_file", "credential")


#: ``password=`` or ``pwd=`` in a value (a connection string pasted whole)
_PASSWORD_IN_VALUE = re.compile(r"(?i)(?:password|pwd)\s*=")


def _hidden(section: str, key: str, value: Any) -> str:
    """``key = value``; notification URLs hold tokens, the web token is one and any other URL
    (the database, the gateway's) may carry a password: when set, the line is a comment that
    shows only the URLs' schemes, or the URL with its password masked (loaded back, they take
    their defaults)."""
    if section == "notify" and key == "urls" and value:
        return f"# {key} = " + ", ".join(f"{u.split('://', 1)[0]}://(hidden)" for u in value)
    if (section, key) in (("web", "token"), ("admin", "secret_anchor")) and value:
        return f"# {key} = (set, hidden)"
    if isinstance(value, str) and "://" in value:  # a URL may carry a password
        masked = schema.without_password(value)
        return f"# {key} = {masked}" if masked != value else f"{key} = {_show(value)}"
    if isinstance(value, str) and _PASSWORD_IN_VALUE.search(value):  # a pasted connection
        return f"# {key} = (holds a password, hidden)"
    return f"{key} = {_show(value)}"


def _masked(key: str, value: Any) -> str:
    """``key = value``; a secret-looking key is never printed: only whether it is set."""
    if any(k in key.lower() for k in _SECRET_KEYS) and "lifetime" not in key and value:
        return f"# {key} = (set, hidden)"
    return f"{key} = {_show(value)}"


def _show(value: Any) -> str:
    """A parsed value as the settings text that parses back to it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, time):
        return value.strftime("%H:%M:%S" if value.second else "%H:%M")
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], time):
        if isinstance(value[0], time):  # a span of the day: [paper] maintenance_break
            return f"{_show(value[0])}-{_show(value[1])}"
        return f"{schema.WEEKDAYS[value[0]].title()} {_show(value[1])}"
    if isinstance(value, tuple):
        return ", ".join(_show(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_show(v)}" for k, v in value.items())
    if isinstance(value, float):
        return f"{value:g}"
    if hasattr(value, "can_trade") and hasattr(value, "balance"):  # a paper account
        owner = f": {value.owner}" if value.owner else ""
        return f"{value.id}: {value.name}: {value.balance}: {_show(value.can_trade)}{owner}"
    return str(value)
