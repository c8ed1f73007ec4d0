"""The pre-flight: every read-only check of a run, run once after observe and before anything bills.

Each target's resource modules contribute checks (`StageHandler.checks`); the core runs them in
stage order (`BaseTarget.preflight`), the plan carries them, every renderer shows them, and apply
refuses before its first stage when one failed. A check that cannot decide says so: it never
passes silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import Enum

from orchestrator.errors import OrchestrateError

WARN_DAYS = 90  # a model or VM series this close to retirement is a warning in plan, status and lock --check


class Verdict(str, Enum):
    OK = "ok"
    WARN = "warn"  # goes ahead; shown in plan, status and `lock --check` (exit 2)
    UNDECIDED = "undecided"  # the check could not decide (nothing published, rows it cannot match)
    FAIL = "fail"  # apply refuses before anything is created

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Check:
    name: str  # what was checked: "model lifecycle", "quota", "deployment.sku allow list"
    verdict: Verdict
    message: str  # one line for people

    def to_dict(self) -> dict:
        return {"name": self.name, "verdict": self.verdict.value, "message": self.message}


def ok(name: str, message: str) -> Check:
    return Check(name, Verdict.OK, message)


def warn(name: str, message: str) -> Check:
    return Check(name, Verdict.WARN, message)


def undecided(name: str, message: str) -> Check:
    return Check(name, Verdict.UNDECIDED, message)


def fail(name: str, message: str) -> Check:
    return Check(name, Verdict.FAIL, message)


class PreflightFailed(OrchestrateError):
    """A pre-flight check refused the run: nothing was created."""


def refuse(checks) -> None:
    """Raise, in one line, when a check failed (before the first billable call)."""
    failed = [c for c in checks if c.verdict == Verdict.FAIL]
    if failed:
        raise PreflightFailed("; ".join(c.message for c in failed) + "; nothing was created")


def retirement(name: str, what: str, dates: dict[str, date], today: date, successor: str = "") -> Check:
    """A lifecycle check from dates by kind ("fine-tune retirement", ...): past one is a failure,
    within WARN_DAYS of one a warning."""
    if not dates:
        return ok(name, f"{what} is current")
    kind, when = min(dates.items(), key=lambda kv: kv[1])  # the earliest decides
    then = f"; successor: {successor}" if successor else ""
    days = (when - today).days
    if days <= 0:
        return fail(name, f"{what} is retired: its {kind} was {when.isoformat()}{then}")
    if days <= WARN_DAYS:
        return warn(name, f"{what} retires in {days} days: its {kind} is {when.isoformat()}{then}")
    return ok(name, f"{what} is current")


def parse_date(value) -> date | None:
    """An ISO date or timestamp ('2025-08-30', '2025-08-30T00:00:00.000000Z'), None when it is not one."""
    if not value:
        return None
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None
