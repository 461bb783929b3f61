"""The first login's failures, sorted: a gateway hiccup is waited out, a refusal is final.

A login can fail two ways. The gateway (or the way to it) is in trouble for the moment: an
HTTP 5xx, a 429 (the API key's request window is full), a timeout, a connection refused or
reset. Giving up then leaves the accounts unguarded for as long as nobody starts the service
again, so the login is tried again, backing off up to `LONGEST` seconds between tries, for as
long as it takes, each failure said in one plain line (never the key). Or the gateway refuses
the login itself (a wrong username or key: HTTP 401 or errorCode 3; no API subscription: 9;
API key sign-in disabled: 10): trying again cannot change that, so the service stops at once
and says what to fix (`refusal`); so does any other HTTP 4xx (403, a proxy's 407) but
`PASSING_STATUSES`. The gateway's errorCode 8 (UnknownError) is its own trouble, not a
refusal: waited out (`refused`). Until the login goes through nothing is enforced, and no
stored lock ends either: the locks apply to the accounts as soon as it does.
"""

from __future__ import annotations

from project_x_py.exceptions import (
    ProjectXAuthenticationError,
    ProjectXConnectionError,
    ProjectXDataError,
    ProjectXError,
    ProjectXRateLimitError,
    ProjectXServerError,
)

#: the first wait between two tries of the login (it doubles up to `LONGEST`); each try is
#: the SDK's own three sends (1 s, then 2 s apart) of each request
FIRST = 0.5
LONGEST = 30.0

#: what a person can do about the gateway's login refusals, by its errorCode
HINTS = {
    3: ": check the username and the API key",
    9: ": this user has no API subscription; subscribe to the ProjectX API for this firm",
    10: ": API key sign-in is disabled for this user; enable it in the platform's settings",
}
#: what a person can do about a login answered with this HTTP status and no errorCode
STATUS_HINTS = {
    401: ": check the username and the API key",
    403: ": check that this user may use the API (its subscription, API key sign-in)",
    407: ": a proxy on the way to the gateway asks for its own credentials: check the proxy",
}


#: login errorCodes that are the gateway's own trouble, not a refusal (8: UnknownError)
PASSING_CODES = frozenset({8})
#: HTTP statuses below 500 that say "not now" rather than "no"
PASSING_STATUSES = frozenset({404, 408, 425, 429})


class LoginNotAnswered(ProjectXError):
    """The gateway's answer to the login was its own trouble of the moment (an errorCode 8,
    a 5xx, no answer), told only once the SDK's reading of it had failed."""


def refused(status: int, code: int) -> bool:
    """Whether the gateway's answer (HTTP ``status``, 0 for none; its ``errorCode``) refuses
    the login for good: any errorCode but `PASSING_CODES`; a 200 without one (the login was
    taken, the account listing after it was not); a 4xx but `PASSING_STATUSES`."""
    if code:
        return code not in PASSING_CODES
    return status == 200 or (400 <= status < 500 and status not in PASSING_STATUSES)


def not_answered(status: int, code: int, message: str) -> str:
    """A login answer that `refused` does not count as a refusal, in plain words."""
    if code:
        return f"the gateway could not log in: {message or 'no reason given'} (errorCode {code})"
    if status:
        return f"the gateway answered the login with HTTP {status}"
    return "the gateway could not be reached"


def final(exc: BaseException) -> bool:
    """A failure no later try can change: the gateway refused the login, or has none at the
    configured address."""
    return isinstance(exc, ProjectXAuthenticationError) or not_found(exc)


def not_found(exc: BaseException) -> bool:
    """The address answered 404 for the login (the SDK's words): a wrong ``api_url``."""
    return isinstance(exc, ProjectXDataError) and str(exc).startswith("Resource not found")


def passing(exc: BaseException) -> bool:
    """A failure of the moment, worth trying again: anything but a final one (a 5xx, a 429,
    a timeout, a refused or lost connection; an answer that could not be read)."""
    return isinstance(exc, ProjectXError | OSError) and not final(exc)


def what(exc: BaseException) -> str:
    """A passing failure in plain words."""
    if isinstance(exc, LoginNotAnswered):
        return str(exc)
    if isinstance(exc, ProjectXServerError):
        return f"the gateway answered with a server error ({exc})"
    if isinstance(exc, ProjectXRateLimitError):
        return f"the gateway's request limit for this API key is reached ({exc})"
    if isinstance(exc, TimeoutError):
        return "the gateway did not answer in time"
    if isinstance(exc, ProjectXConnectionError | OSError):
        return f"the gateway could not be reached ({type(exc).__name__}: {exc or 'no answer'})"
    return f"{type(exc).__name__}: {exc}"


def refusal(user: str, status: int, code: int, message: str) -> str:
    """The gateway's refusal of ``user``'s login, with what to fix (never the key)."""
    if code:
        hint = HINTS.get(code, "")
        said = message or "no reason given"
        return f"the gateway refused the login of {user!r}: {said} (errorCode {code}){hint}"
    if status == 200:  # the login went through, the SDK's account listing after it did not
        return (
            f"the gateway took the login of {user!r} but listed no active account for it "
            "(or refused to list them): check that this user has an active trading account"
        )
    if not status:
        return f"the gateway refused the login of {user!r} (its answer could not be read)"
    hint = STATUS_HINTS.get(status, ": check the username and the API key")
    said = f": {message}" if message else ""
    return f"the gateway refused the login of {user!r} (HTTP {status}{said}){hint}"


def no_login_at(api_url: str) -> str:
    return (
        f"the gateway address {api_url} has no login (HTTP 404 for /Auth/loginKey): check "
        "[broker] api_url (or PROJECTX_API_URL)"
    )
