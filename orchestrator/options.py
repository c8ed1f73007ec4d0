"""What the command line asked for, as the core reads it: one typed, frozen object that each
command builds once from its parsed options, in place of positional lists of flags.

A command fills the fields it has; the rest keep their defaults (a plan is never forced, a
status never asks).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True)
class Options:
    credential: str | None = None  # --credential, over workspace.credential
    parallel: int = 1  # with several specs, how many at once
    locked: bool = False  # the lock file must be there and current
    offline: bool = False  # plan: read no target
    detailed_exitcode: bool = False  # plan: exit 2 when something would change
    prices: str | None = None  # plan: a price table, for money estimates
    throughput: int | None = None  # plan: assumed fine-tune tokens/s per GPU
    yes: bool = False  # apply, destroy: do not ask
    force_unlock: bool = False  # apply, destroy: break a dead apply's lock on Azure first
    fail_fast: bool = False  # apply, destroy of several: a failure keeps the rest from starting
    keep_failed: bool = False  # apply: a failed candidate deployment stays, at 0 %
    force: bool = False  # destroy: the endpoint goes even with deployments of others
    keep_model_and_data: bool = False  # destroy: only what bills

    @classmethod
    def of(cls, given: Mapping[str, Any]) -> Options:
        """The options among a command's parsed parameters (click passes them all by name)."""
        names = {f.name for f in fields(cls)}
        return cls(**{name: value for name, value in given.items() if name in names})

    def set_on(self, target) -> None:
        """The options a target's stages read while they run."""
        target.keep_failed = self.keep_failed
        target.force = self.force
