"""Domain errors: each one renders as a single clear line for the CLI and the logs."""

from __future__ import annotations

from dataclasses import dataclass


class FsmRiskError(Exception):
    """Base of every error the CLI turns into one line and a non-zero exit."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a settings file: where it is and why."""

    file: str
    section: str | None
    key: str | None
    reason: str

    def __str__(self) -> str:
        where = self.file
        if self.section is not None:
            where += f": [{self.section}]"
        if self.key is not None:
            where += f" {self.key}"
        return f"{where}: {self.reason}"


class SettingsError(FsmRiskError):
    """A settings file is missing, unreadable or invalid. Lists every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class AlreadyGuarded(FsmRiskError):
    """A start refused because another fsm-risk service already enforces its accounts (or
    its database): that one goes on enforcing."""


class StartedMeanwhile(FsmRiskError):
    """A service took the database between the check that none runs and a change made
    through it (`fsm-risk transition`, `lock`): nothing was changed."""


class IllegalTransition(FsmRiskError):
    """A trigger that the machine does not allow from its current state. Nothing changed."""


class AuthError(FsmRiskError):
    """The admin credential is missing, wrong or rate-limited."""
