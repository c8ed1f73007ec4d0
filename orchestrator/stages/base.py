"""What every stage is: a name, the stages it depends on, its inputs and the resource it makes.

Only the pure part lives here (used by plan, validate-time checks and diff); how a target
observes and makes a stage real lives in targets/<target>/.
"""

from __future__ import annotations

from typing import ClassVar

from orchestrator.kinds import Action
from orchestrator.spec.model import RunSpec


class Stage:
    """One step of a run. Subclasses set the class attributes and implement inputs/resource."""

    name: ClassVar[str]
    summary: ClassVar[str]
    depends_on: ClassVar[tuple[str, ...]] = ()
    # What a changed fingerprint means for the existing resource: update it in place, or replace
    # it with a new one (a new job, a new model version, a new data version, a new smoke run).
    on_change: ClassVar[Action] = Action.UPDATE
    # Stages whose resources this one deletes when it runs (teardown): while it is up to date,
    # they are done, not missing.
    removes: ClassVar[tuple[str, ...]] = ()
    deletes: ClassVar[tuple[str, ...]] = ()  # of those, the ones it deletes (the rest it follows)
    # The stage this one may run alongside: it starts once that stage's handler says `ready()`
    # (the executor runs it in a thread), instead of waiting for its turn. Nothing it depends on
    # may be still running then.
    alongside: ClassVar[str | None] = None
    # Observed before the other stages, one at a time: what it reads changes their inputs (the base
    # model publishes fine-tune defaults). The others may be observed concurrently.
    observed_first: ClassVar[bool] = False

    def applies(self, spec: RunSpec) -> bool:
        """Whether this run has the stage at all (teardown only when the spec asks for it)."""
        return True

    def inputs(self, spec: RunSpec) -> dict:
        """The values that decide this stage's result; its fingerprint hashes them."""
        raise NotImplementedError

    def resource(self, spec: RunSpec, fingerprint: str) -> str:
        """The deterministic name of what the stage creates: from the run name and, where Azure
        needs a new name per result (jobs, versions), the fingerprint. Never a timestamp."""
        raise NotImplementedError


def short(fingerprint: str) -> str:
    """The fingerprint as it appears in names and versions."""
    return fingerprint[:12]
