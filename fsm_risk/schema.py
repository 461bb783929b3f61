"""Declarative settings fields: each key is parsed once, at load, with a specific reason on error.

A section is described by a tuple of `Field`s. `parse_section` turns the raw strings of one
``settings.ini`` section into typed values, reporting every unknown key, missing key and bad
value as a `Problem` that names the file, the section and the key. Parsers raise `ValueError`
with a short human reason ("must be a positive amount, got '-5'"); nothing else is caught.

Pure: no file access, no clock.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import time
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fsm_risk.core.instruments import known_root, root_named
from fsm_risk.errors import Problem, SettingsError


@dataclass(frozen=True, slots=True)
class Field:
    """One settings key: its parser, its default (raw text; None means required) and its doc."""

    key: str
    parse: Callable[[str], Any]
    default: str | None
    doc: str
    #: the value names symbol roots (a map's keys, a list's items): a root the service does not
    #: know is named by `check`, at start-up and on a reload (see `config.unknown_roots`)
    roots: bool = False

    @property
    def required(self) -> bool:
        return self.default is None


def parse_section(
    file: str,
    section: str,
    fields: tuple[Field, ...],
    raw: Mapping[str, str],
) -> tuple[dict[str, Any], list[Problem]]:
    """Parse one section. Returns the values by key and the problems found (never raises)."""
    known = {f.key: f for f in fields}
    problems: list[Problem] = []
    values: dict[str, Any] = {}
    for key in raw:
        if key not in known:
            hint = _closest(key, known)
            choices = f"did you mean '{hint}'?" if hint else "keys: " + ", ".join(known)
            reason = f"unknown key ({choices})"
            problems.append(Problem(file, section, key, reason))
    for f in fields:
        text = raw.get(f.key)
        if text is None:
            if f.default is None:
                problems.append(Problem(file, section, f.key, "required key is missing"))
                continue
            text = f.default
        try:
            values[f.key] = f.parse(text.strip())
        except ValueError as exc:
            problems.append(Problem(file, section, f.key, str(exc)))
    return values, problems


def raise_if(problems: list[Problem]) -> None:
    if problems:
        raise SettingsError(problems)


def _closest(key: str, known: Mapping[str, Field]) -> str | None:
    import difflib

    match = difflib.get_close_matches(key, list(known), n=1, cutoff=0.75)
    return match[0] if match else None


# --- parsers -----------------------------------------------------------------------------


#: no amount in settings comes near this (beyond it, exact cents are out of reach)
MAX_AMOUNT = Decimal(10) ** 15


#: a number written with thousands separators: 1,000 or 12,500.50 (never 2000,00 or 1,0,0,0)
_GROUPED = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_AMOUNT_FORMS = (
    "an amount in dollars such as 2000, 2,000 or 12,500.50 (a comma only between groups of "
    "three digits, a point before the cents)"
)
_INTEGER_FORMS = (
    "a whole number such as 1000 or 1,000 (a comma only between groups of three digits)"
)


def _ungrouped(text: str, forms: str) -> str:
    """The text without its thousands separators. A comma anywhere else (a decimal comma as in
    ``2000,00``, stray ones as in ``1,0,0,0``) is refused: stripping it misreads the number a
    hundredfold."""
    if "," not in text:
        return text
    if _GROUPED.fullmatch(text):
        return text.replace(",", "")
    raise ValueError(f"must be {forms}, got '{text}'")


def amount(*, positive: bool = True, allow_zero: bool = False) -> Callable[[str], Decimal]:
    """A money amount in dollars, exact (Decimal); refuses NaN, infinity and part-cents."""

    def parse(text: str) -> Decimal:
        plain = _ungrouped(text, _AMOUNT_FORMS)
        try:
            value = Decimal(plain.replace("_", ""))
        except InvalidOperation:
            raise ValueError(f"must be an amount in dollars, got '{text}'") from None
        if not value.is_finite():
            raise ValueError(f"must be a finite amount, got '{text}'")
        if abs(value) >= MAX_AMOUNT:
            raise ValueError(f"must be below {MAX_AMOUNT:,} dollars, got '{text}'")
        if value != value.quantize(Decimal("0.01")):
            raise ValueError(f"must be a whole number of cents, got '{text}'")
        if positive and (value < 0 or (value == 0 and not allow_zero)):
            kind = "zero or a positive amount" if allow_zero else "a positive amount"
            raise ValueError(f"must be {kind}, got '{text}'")
        return value

    return parse


def decimal(
    *, minimum: Decimal | None = None, maximum: Decimal | None = None
) -> Callable[[str], Decimal]:
    def parse(text: str) -> Decimal:
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise ValueError(f"must be a number, got '{text}'") from None
        if not value.is_finite():
            raise ValueError(f"must be a finite number, got '{text}'")
        if minimum is not None and value < minimum:
            raise ValueError(f"must be at least {minimum}, got '{text}'")
        if maximum is not None and value > maximum:
            raise ValueError(f"must be at most {maximum}, got '{text}'")
        return value

    return parse


def integer(*, minimum: int | None = None, maximum: int | None = None) -> Callable[[str], int]:
    def parse(text: str) -> int:
        plain = _ungrouped(text, _INTEGER_FORMS)
        try:
            value = int(plain.replace("_", ""))
        except ValueError:
            raise ValueError(f"must be a whole number, got '{text}'") from None
        if minimum is not None and value < minimum:
            raise ValueError(f"must be at least {minimum}, got '{text}'")
        if maximum is not None and value > maximum:
            raise ValueError(f"must be at most {maximum}, got '{text}'")
        return value

    return parse


_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def boolean(text: str) -> bool:
    low = text.lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise ValueError(f"must be true or false, got '{text}'")


def choice(*options: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        low = text.lower()
        if low not in options:
            raise ValueError(f"must be one of {', '.join(options)}, got '{text}'")
        return low

    return parse


def text(value: str) -> str:
    return value


def nonempty(value: str) -> str:
    if not value:
        raise ValueError("must not be empty")
    return value


SERVER_SCHEMES = ("postgresql://", "postgresql+psycopg://", "postgres://")


def is_server_url(value: str) -> bool:
    """True when a database setting names a PostgreSQL server rather than a SQLite file."""
    return value.startswith(SERVER_SCHEMES)


#: a connection in keyword form, not a file name: libpq's (``host=... dbname=... password=...``)
#: or ADO.NET/Npgsql's (``Server=...;Database=...;User Id=...;Password=...``), a keyword first or
#: after a space or a ``;`` (a ``\`` or ``/`` before one is a folder's: ``D:\user=john\risk.db``)
_KEYWORD_DSN = re.compile(
    r"(?i)(?:^|[\s;])(?:host|hostaddr|server|port|dbname|database|user|user\s*id|userid|uid"
    r"|username|password|pwd|sslmode|ssl\s*mode)\s*="
)
#: a URL's scheme: what may be named back, whatever else the value holds
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")


def database(value: str) -> str:
    """A SQLite file path, or a PostgreSQL server URL (postgresql://user:pass@host:port/db).
    A connection in keyword form (libpq's, ADO.NET's) is refused (it would be taken for a
    file name, and run on a new SQLite file instead of the server); the value is never
    quoted (it may hold a password), only a URL's scheme."""
    if not value:
        raise ValueError("must not be empty")
    scheme = value.split("://", 1)[0] if "://" in value else None
    if (scheme is None or not _SCHEME.fullmatch(scheme)) and _KEYWORD_DSN.search(value):
        raise ValueError(
            "looks like a PostgreSQL connection in keyword form (host=... dbname=..., or "
            "Server=...;Database=...): write it as a URL, "
            "postgresql://USER:PASSWORD@HOST:PORT/DBNAME"
        )
    if scheme is not None and not is_server_url(value):
        named = f"a '{scheme}://' URL" if _SCHEME.fullmatch(scheme) else "another '...://' value"
        raise ValueError(f"must be a SQLite file path or a postgresql:// URL, got {named}")
    if is_server_url(value) and at_in_userinfo(value):
        raise ValueError(AT_IN_USERINFO)
    if is_server_url(value) and "/" not in value.split("://", 1)[1].strip("/"):
        raise ValueError("a postgresql:// URL must name the database: postgresql://HOST/DBNAME")
    return value


#: ``scheme://user:`` before a password that runs to the first ``@`` (where the driver ends it:
#: a ``?`` or ``/`` before it is the password's), and on to the last ``@`` before the host's
#: ``/`` or ``?`` (an ``@`` written as is in the password is hidden with it)
_USERINFO_PASSWORD = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://[^:/@]*:)[^@]*@(?:[^@/?]*@)*")


def at_in_userinfo(value: str) -> bool:
    """A server URL whose user name or password holds an ``@`` written as is (not %40): the
    connection would end the password at the first one and take the rest for the host."""
    return value.split("?", 1)[0].count("@") > 1


AT_IN_USERINFO = (
    "its user name or password holds an '@': write each '@' in them as %40 (the connection "
    "would take what follows the first one for the host)"
)


#: a query parameter of a URL: its separator, its name as written, and its value, which runs to
#: the next ``&`` (a ``#`` is part of it: SQLAlchemy's `make_url` reads no fragment)
_QUERY_PARAM = re.compile(r"([?&])([^=&]*)=([^&]*)")
#: the name of a query parameter that holds a secret (libpq's ``password``, ``sslpassword``),
#: once percent-decoded as the connection decodes it (``pass%77ord`` is ``password``)
_SECRET_NAME = re.compile(r"(?i)password|secret|token|api_?key")


def _query_secrets(value: str) -> list[re.Match[str]]:
    """The secret query parameters of a URL, as written (none without a query)."""
    from urllib.parse import unquote_plus

    start = value.find("?")
    if start < 0:
        return []
    return [
        m
        for m in _QUERY_PARAM.finditer(value, start)
        if m[3] and _SECRET_NAME.search(unquote_plus(m[2]))
    ]


def without_password(value: str) -> str:
    """A URL (a database server, a gateway, any scheme) with the password of its userinfo and
    any secret query parameter (``?password=``) replaced by ***, for messages and ``check``;
    anything else as is."""
    if "://" not in value:
        return value
    hidden = _USERINFO_PASSWORD.sub(r"\1***@", value)
    out, at = [], 0
    for m in _query_secrets(hidden):
        out += [hidden[at : m.start(3)], "***"]
        at = m.end(3)
    return "".join(out) + hidden[at:]


def url_password(value: str) -> str | None:
    """The password a URL carries in its userinfo (``https://user:PASS@host``), else None."""
    found = _USERINFO_PASSWORD.match(value)
    if found is None:
        return None
    return found[0][len(found[1]) : -1] or None


def url_secrets(value: str) -> list[str]:
    """Every secret a URL carries: its userinfo password and its secret query parameters,
    each as written and percent-decoded (to register them for masking)."""
    from urllib.parse import unquote, unquote_plus

    if "://" not in value:
        return []
    found = [url_password(value), *(m[3] for m in _query_secrets(value))]
    decoded = (v for s in found if s for v in (s, unquote(s), unquote_plus(s)))
    return list(dict.fromkeys(decoded))


#: IANA names a person types for a region's time that are fixed offsets with no daylight
#: saving (EST is UTC-5 all year): the regional zone they mean
_FIXED_ABBREVIATIONS = {
    "EST": "America/New_York",
    "MST": "America/Denver",
    "HST": "Pacific/Honolulu",
}
#: the regional zones that keep the very clock of those names (no daylight saving): what a stored
#: record written in one of them enforced (`timezone_meant`)
_SAME_CLOCK = {"EST": "America/Panama", "MST": "America/Phoenix", "HST": "Pacific/Honolulu"}
#: Etc/GMT+5 is UTC-5 (the POSIX sign, inverted) and never follows daylight saving
_ETC_OFFSET = re.compile(r"^(?:Etc/)?GMT[+-]0*[1-9]\d*$", re.IGNORECASE)
#: the zone folder's copies (posix/ is the same zones again; right/ counts leap seconds, so its
#: clock changes 27 s early) and its files that are no place's zone
_ZONE_FOLDERS = re.compile(r"^(posix|right)/", re.IGNORECASE)
_NOT_A_PLACE = {
    "localtime": "the machine's own zone",
    "posixrules": "the zone folder's default rules",
    "factory": "a placeholder",
}


def timezone(text: str) -> str:
    """An IANA time zone name such as America/Chicago. Refuses the fixed-offset names a person
    types for a region that keeps daylight saving (EST, MST, HST, Etc/GMT+5), under whatever
    folder they are named (posix/EST): a reset written in one of them is an hour off for most
    of the year. Refuses the zone folder's posix and right copies (right counts leap seconds)
    and the names that are no place (localtime, posixrules, Factory)."""
    if not text or text.startswith("/") or ".." in text:
        raise ValueError(f"must be an IANA time zone such as America/Chicago, got '{text}'")
    plain = _ZONE_FOLDERS.sub("", text)
    last = plain.rsplit("/", 1)[-1]
    _fixed_offset(
        text, _FIXED_ABBREVIATIONS.get(last.upper()), _ETC_OFFSET.match(plain) is not None
    )
    if plain != text:
        raise ValueError(
            f"'{text}' is a copy in the zone folder's {text[: -len(plain) - 1]}/ "
            f"(use the zone's own name, {plain})"
        )
    what = _NOT_A_PLACE.get(text.lower())
    if what is not None:
        raise ValueError(
            f"'{text}' is {what}, not a place's time zone "
            "(use an IANA name such as America/Chicago)"
        )
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone '{text}' (use an IANA name such as America/Chicago)"
        ) from None
    return text


def timezone_meant(text: str) -> str | None:
    """The zone a name refused by `timezone` meant, where one place is sure: a folder copy's
    own name (posix/America/Chicago: America/Chicago) and a fixed-offset abbreviation's zone of
    the same clock all year (EST: America/Panama, never New York's summer time: found by a
    review of 0bb95eb: a stored EST read as America/New_York, its file fixed to America/Panama,
    the clock the old service enforced, held a window neither had until the reset, and a
    position inside both was flattened at 20:15 UTC in July). None: no one place (localtime,
    Etc/GMT+5) or not a refused zone name."""
    plain = _ZONE_FOLDERS.sub("", text.strip())
    meant = _SAME_CLOCK.get(plain.upper(), plain)
    if meant == text:
        return None
    try:
        return timezone(meant)
    except ValueError:
        return None


def _fixed_offset(text: str, regional: str | None, etc: bool) -> None:
    """Refuses a fixed-offset zone ``text`` (``regional`` its regional zone, or ``etc`` for an
    Etc/GMT±N name), naming the zone to use."""
    if regional is not None:
        raise ValueError(
            f"'{text}' is a fixed offset that never follows daylight saving "
            f"(use a regional zone such as {regional})"
        )
    if etc:
        raise ValueError(
            f"'{text}' is a fixed offset (its sign inverted: Etc/GMT+5 is UTC-5) that never "
            "follows daylight saving (use a regional zone such as America/New_York)"
        )


_TIME = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")


def clock_time(text: str) -> time:
    """A local wall-clock time, HH:MM or HH:MM:SS (24-hour)."""
    m = _TIME.match(text)
    if not m:
        raise ValueError(f"must be a time as HH:MM (24-hour), got '{text}'")
    h, mi, s = int(m[1]), int(m[2]), int(m[3] or 0)
    if h > 23 or mi > 59 or s > 59:
        raise ValueError(f"must be a time between 00:00 and 23:59, got '{text}'")
    return time(h, mi, s)


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WEEKDAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def weekday(text: str) -> int:
    """A weekday name (Mon..Sun or Monday..Sunday, any case) -> 0 (Monday) .. 6 (Sunday)."""
    low = text.strip().lower()
    if low in WEEKDAYS:
        return WEEKDAYS.index(low)
    if low in _WEEKDAY_NAMES:
        return _WEEKDAY_NAMES.index(low)
    raise ValueError(f"must be a weekday (Mon..Sun), got '{text}'")


def weekday_time(text: str) -> tuple[int, time]:
    """'Sun 17:00' -> (6, 17:00)."""
    parts = text.split()
    if len(parts) != 2:
        raise ValueError(f"must be a weekday and a time such as 'Sun 17:00', got '{text}'")
    return weekday(parts[0]), clock_time(parts[1])


def seconds(*, minimum: float = 0.0, maximum: float | None = None) -> Callable[[str], float]:
    """A duration in seconds (a plain number)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"must be a number of seconds, got '{text}'") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"must be a finite number of seconds, got '{text}'")
        if value < minimum:
            raise ValueError(f"must be at least {minimum:g} seconds, got '{text}'")
        if maximum is not None and value > maximum:
            raise ValueError(f"must be at most {maximum:g} seconds, got '{text}'")
        return value

    return parse


def str_list(item: Callable[[str], Any] = nonempty) -> Callable[[str], tuple[Any, ...]]:
    """A comma-separated list; empty text is an empty list."""

    def parse(text: str) -> tuple[Any, ...]:
        if not text.strip():
            return ()
        return tuple(item(part.strip()) for part in text.split(","))

    return parse


def mapping(
    key: Callable[[str], Any], value: Callable[[str], Any]
) -> Callable[[str], dict[Any, Any]]:
    """'MNQ: 5, NQ: 2' -> {'MNQ': 5, 'NQ': 2}. Empty text is an empty map."""

    def parse(text: str) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        if not text.strip():
            return out
        for part in text.split(","):
            if ":" not in part:
                raise ValueError(f"must be a list of 'name: value' pairs, got '{part.strip()}'")
            k_text, v_text = part.split(":", 1)
            k = key(k_text.strip())
            if k in out:
                raise ValueError(f"names '{k_text.strip()}' twice")
            out[k] = value(v_text.strip())
        return out

    return parse


#: a contract as a platform or `status` names it: a root, a month code, the year (MNQZ6,
#: MNQ Z26, MNQ.Z26); a full id (CON.F.US.MNQ.Z26) ends in its root, a dot and the month
_NAMED = re.compile(r"([A-Z0-9]+?) ?([FGHJKMNQUVXZ])(\d{1,2}|20\d{2})")
_DOTTED = re.compile(r"(?:[A-Z]+\.)*([A-Z0-9]{1,6}) ?\. ?[FGHJKMNQUVXZ]\d{1,4}")


def contract_root(text: str) -> str | None:
    """The root that a name looking like a contract probably means (``MNQZ6``, ``MNQ Z26``,
    ``MNQ.Z26``, ``CON.F.US.MNQ.Z26`` -> ``MNQ``; ``ENQZ6`` -> ``NQ``); None when it does not
    look like one. A root or product code the service knows never does (``EU6`` is 6E's
    code), and a name without dots only when it starts with a root the service knows."""
    name = text.strip().upper()
    if known_root(name):
        return None
    dotted = _DOTTED.fullmatch(name)
    if dotted is not None:
        return root_named(dotted[1])
    named = _NAMED.fullmatch(name)
    if named is not None and known_root(named[1]):
        return root_named(named[1])
    return None


def symbol_root(text: str, what: str = "settings") -> str:
    """A contract's symbol root such as MNQ (letters and digits, upper-cased). The gateway's
    product code for a root is that root (``ENQ``, as in ``CON.F.US.ENQ.Z26``, is ``NQ``). A
    contract's name is refused, naming its root (per-root ``what`` take the root)."""
    meant = contract_root(text)
    if meant is not None:
        raise ValueError(
            f"'{text.strip()}' looks like a contract; per-root {what} take the root: {meant}"
        )
    root = text.strip().upper()
    if not re.fullmatch(r"[A-Z0-9]{1,6}", root):
        raise ValueError(f"must be a symbol root such as MNQ, got '{text}'")
    return root_named(root)


def root_key(what: str) -> Callable[[str], str]:
    """`symbol_root` for the keys of per-root ``what`` (limits, targets)."""

    def parse(text: str) -> str:
        return symbol_root(text, what)

    return parse
