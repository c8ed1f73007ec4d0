"""What a target is: the page to read before writing a third one (after `azureml` and `local`).

A target makes the stages of a plan real somewhere. The executor (`apply.py`) and the CLI use
only what `Target` lists. A target keeps, per stage, a `StageHandler`: how to observe the stage's
resource (what exists, at which fingerprint), how to apply it, and how to delete it; `BaseTarget`
dispatches to that table and records each stage's result. One module per resource keeps a
resource's observe, apply and destroy together (see targets/azureml/).

What a third target must provide (and one line in registry.TARGETS, see registry.py):
- a handler for every stage of `orchestrator.stages.STAGES` that makes a resource; the stages every
  target runs the same way (smoke_test, traffic, teardown) are the core's (stages/shared.py), and
  tests/test_target_contract.py checks the two together cover every stage;
- `lock(force)`: a context manager held for the whole apply (the CLI also takes a local flock);
- `scoring_uri()` for the live endpoint, and the endpoint's router (`Router`: its deployments and
  their traffic, `invoke()` by deployment, ...) that the rollout (rollout.py) drives;
- `left_running()`: what an interrupt leaves running, for the one line Ctrl-C prints.

What runs alongside what is declared on the stages (`Stage.alongside`) and run by the executor:
a handler calls `ready()` once the stages declared alongside it may start, and learns which it
started (the fine-tune on azureml calls it just before it submits its job, so the endpoint is
created while the job runs, and waits for Azure to accept the endpoint's name first).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from orchestrator import lockfile
from orchestrator.errors import OrchestrateError
from orchestrator.events import Events
from orchestrator.lockfile import Pin
from orchestrator.naming import Served
from orchestrator.plan import Observed, PlannedStage, fingerprints, with_model_defaults
from orchestrator.preflight import Check, undecided
from orchestrator.records import R, Record, as_dict
from orchestrator.spec.model import RunSpec
from orchestrator.state import RunState

Ready = Callable[[], Sequence[str]]  # starts what runs alongside; returns the names it started


def not_ready() -> Sequence[str]:
    """The `ready` of a stage nothing runs alongside."""
    return ()


class Router(Protocol):
    """The endpoint's router, as the rollout (rollout.py) uses it on every target."""

    keep_failed: bool  # a failed candidate stays (at 0 %) instead of being deleted

    def deployments(self) -> list[Served]:
        """Every deployment behind the endpoint (this run's and others'), with its traffic."""
        ...

    def routed(self) -> list[Served] | None:
        """The deployments as observe found them (no new read); None when there is no endpoint."""
        ...

    def set_traffic(self, traffic: Mapping[str, int], mirror: Mapping[str, int]) -> None:
        """Route the endpoint's traffic (percent per deployment) and the mirrored copy; returns when
        the router routes so."""
        ...

    def invoke(self, messages: list[dict], parameters: dict, deployment: str | None = None) -> dict:
        """One chat request; to `deployment` by the azureml-model-deployment header when given."""
        ...

    def delete_deployment(self, name: str) -> None: ...

    def deployment_logs(self, name: str) -> str:
        """The deployment's last log lines, on one line ("" when none can be read)."""
        ...

    def served(self, name: str) -> tuple[int, int] | None:
        """(requests, failed) the deployment has answered so far, or None when the target cannot count."""
        ...


class Target(Router, Protocol):
    """What the executor and the CLI use of a target."""

    name: ClassVar[str]
    parallel: ClassVar[bool]  # False: its runs share this machine and take turns (runs.py)
    spec: RunSpec
    root: Path  # where the run's local state and lock live
    dir: Path  # this run's folder under root
    state: RunState
    prints: dict[str, str]  # each stage's fingerprint, as the spec (and its pins) says now
    pins: dict[str, Pin] | None  # what the moving references resolved to (lockfile.py)
    locked: dict[str, Pin]  # the lock file's pins that still apply to the spec
    notices: list[str]  # what a plan says besides its stages ("Phi-4 9 is available (locked: 8)")
    checks: list[Check]  # the pre-flight's verdicts, from the last observe (preflight.py)

    def resolve(self, upgrade: bool = False) -> dict[str, Pin]:
        """Pin the moving references (the lock file's pins, else resolved now); observe calls it."""
        ...

    def observe(self) -> dict[str, Observed]:
        """Every stage's resource as it is now (read-only), then the pre-flight checks."""
        ...

    def preflight(self, stages: Sequence[str] | None = None) -> list[Check]:
        """The read-only checks of every stage (or of `stages`), after observe (or resolve)."""
        ...

    def lock(self, force: bool = False) -> AbstractContextManager[Any]:
        """Held for the whole apply or destroy, so two of them never interleave."""
        ...

    def apply_stage(self, planned: PlannedStage, events: Events, ready: Ready = not_ready) -> dict:
        """Make one planned stage so; return what was recorded for it."""
        ...

    def destroy_stage(self, name: str) -> None:
        """Delete what one stage made (only what this run made)."""
        ...

    def record(self, kind: type[R]) -> R:
        """What the stage of `kind` (records.py) recorded, as that type; empty when nothing."""
        ...

    def current(self, kind: type[R]) -> R:
        """The stage's record at its current fingerprint, else an empty one."""
        ...

    def observed(self, exists: bool, found_fp: str, cached: dict, detail: str | None = None, **extra) -> Observed:
        """An Observed with the cached inputs when the cache describes `found_fp`."""
        ...

    def model_metrics(self, ref: str) -> dict[str, float]:
        """The fine-tune metrics kept with a registered model (as a deployment names it), {} if none."""
        ...

    def left_running(self, stage: str, alongside: Sequence[str] = ()) -> str:
        """What an interrupt during `stage` leaves running (`alongside`: stages still running too)."""
        ...

    def scoring_uri(self) -> str: ...


T = TypeVar("T")


@dataclass(frozen=True)
class StageHandler(Generic[T]):
    """One stage on one target: observe (target, fingerprint, cached record) -> Observed; apply
    (target, planned, events, ready) -> record; destroy (target, cached record), None when the
    stage leaves nothing to delete."""

    observe: Callable[[T, str, dict], Observed]
    apply: Callable[[T, PlannedStage, Events, Ready], Record | dict]  # its record (records.py)
    destroy: Callable[[T, dict], None] | None = None
    # Stages whose observe must have run before this one's (it reads what they found).
    after: tuple[str, ...] = ()
    # The stage's read-only pre-flight checks (preflight.py), run after every stage was observed
    # and before anything bills, whichever stages the plan runs.
    checks: Callable[[T], list[Check]] | None = None


def observe_recorded(target: Any, fingerprint: str, cached: dict) -> Observed:
    """For a stage whose result is only what was recorded (a smoke test, a teardown, everything on
    this machine): it exists as the state file says."""
    if not cached:
        return Observed(False)
    return Observed(True, cached.get("fingerprint", ""), cached.get("inputs"), cached.get("detail", ""))


class BaseTarget:
    """What every target shares: the run's state, observe over the handler table, recording."""

    name: ClassVar[str]
    handlers: ClassVar[Mapping[str, StageHandler[Any]]]
    parallel: ClassVar[bool] = True

    def __init__(self, spec: RunSpec, root: Path | None = None, credential: str | None = None):
        self.spec = spec
        self.root = root or Path(os.environ.get("ORCHESTRATE_STATE_DIR", ".orchestrate"))
        self.state = RunState(self.root, spec.name)
        self.dir = self.state.dir
        self.prints = fingerprints(spec)
        self.recorded: dict[str, dict] = {}  # the state file as the last observe read it
        self.locked: dict[str, Pin] = {}  # the lock file's pins that still apply to the spec
        self.pins: dict[str, Pin] | None = None  # what resolve() pinned (None: not yet)
        self.notices: list[str] = []  # what the plan should say besides its stages (a newer version)
        self.checks: list[Check] = []  # the pre-flight's verdicts (preflight.py), set by observe
        self.keep_failed = False  # apply --keep-failed: a failed candidate deployment stays, at 0 %
        self.force = False  # destroy --force: the endpoint goes even with deployments of others

    def resolve(self, upgrade: bool = False) -> dict[str, Pin]:
        """Pin the spec's moving references: as the lock file says, or (for what it lacks, or
        everything with `upgrade`) as the target and the Hub resolve them now. The pins join the
        fingerprints, so this comes before observing any stage."""
        self.locked = lockfile.applicable(self.spec, lockfile.read(self.spec))
        pins, self.notices = self.resolve_pins(self.locked, upgrade)
        dataset, why = lockfile.dataset_pin(self.spec, self.locked, upgrade)
        if dataset is not None:
            pins["dataset"] = dataset
        if why:
            self.notices.append(why)
        self.pins = pins
        self.spec = lockfile.with_pins(self.spec, pins)
        self.prints = fingerprints(self.spec)
        return pins

    def resolve_pins(self, locked: Mapping[str, Pin], upgrade: bool) -> tuple[dict[str, Pin], list[str]]:
        """The target's own moving references (a registry's `latest`) and notices: none by default."""
        return {}, []

    # How many stages observe reads at once: each read is a round trip on a cloud, and a no-op
    # plan is latency-bound. 1 reads in order (a target whose reads are local files).
    observe_workers: ClassVar[int] = 1

    def observe(self) -> dict[str, Observed]:
        """Every stage, in order. Stages `observed_first` come first, one at a time: what they
        publish (the base model's defaults) changes the spec the others run, so fingerprints are
        computed again after them. The others are read `observe_workers` at a time, each after the
        stages its handler names in `after`."""
        from orchestrator.stages import BY_NAME

        if self.pins is None:
            self.resolve()
        self.recorded = self.state.stages()
        names = list(self.prints)
        out: dict[str, Observed] = {}
        for name in (n for n in names if BY_NAME[n].observed_first):
            out[name] = self._observe_one(name)
            if out[name].settings:
                self.spec, _ = with_model_defaults(self.spec, out)
                self.prints = fingerprints(self.spec)
        rest = [n for n in names if n not in out]
        if self.observe_workers <= 1:
            out.update((name, self._observe_one(name)) for name in rest)
        else:
            out.update(self._observe_concurrently(rest))
        self.checks = self.preflight()
        return {name: out[name] for name in names}

    def preflight(self, stages: Sequence[str] | None = None) -> list[Check]:
        """Every stage's read-only checks, in stage order, whichever stages the plan will run (a
        shared cluster's stage is skipped, its checks are not). Observe has read what they need;
        `stages` limits them (`lock --check` runs the model's, which need only resolve())."""
        names = [n for n in self.prints if stages is None or n in stages]
        contributors = [(n, c) for n, c in ((n, self.handler(n).checks) for n in names) if c is not None]

        def run(item) -> list[Check]:
            name, contribute = item
            try:
                return contribute(self)
            except OrchestrateError as exc:  # a read that failed decides nothing: say so, go on
                return [undecided(f"{name} checks", f"could not be read: {exc}")]

        if self.observe_workers <= 1 or len(contributors) <= 1:
            return [check for item in contributors for check in run(item)]
        from concurrent.futures import ThreadPoolExecutor

        # Each is a few round trips (sizes, usages, a deployment): at once, as observe reads.
        with ThreadPoolExecutor(max_workers=min(self.observe_workers, len(contributors))) as pool:
            results = list(pool.map(run, contributors))
        return [check for found in results for check in found]

    def record(self, kind: type[R]) -> R:
        """What the stage of `kind` recorded, whatever its fingerprint (empty when nothing)."""
        return kind.from_dict(self.state.stages().get(kind.stage))

    def current(self, kind: type[R]) -> R:
        """The stage's record at its current fingerprint (what this apply, or an earlier one with the
        same spec, recorded); empty otherwise, and observe's reading is used."""
        entry = self.state.stages().get(kind.stage, {})
        return kind.from_dict(entry if entry.get("fingerprint") == self.prints.get(kind.stage) else None)

    def observed(self, exists: bool, found_fp: str, cached: dict, detail: str | None = None, **extra) -> Observed:
        """Observed with the cached inputs when the cache describes the same fingerprint (they name
        the changed keys in the plan's reason); `detail` defaults to the cached one."""
        inputs = cached.get("inputs") if cached.get("fingerprint") == found_fp and found_fp else None
        if detail is None:
            detail = cached.get("detail", "") if exists else ""
        return Observed(exists, found_fp, inputs, detail, **extra)

    def handler(self, name: str) -> StageHandler[Any]:
        """The target's own handler of a stage, else the one every target shares (stages/shared.py)."""
        from orchestrator.stages.shared import HANDLERS

        return self.handlers.get(name) or HANDLERS[name]

    def _observe_one(self, name: str) -> Observed:
        return self.handler(name).observe(self, self.prints[name], self.recorded.get(name, {}))

    def _observe_concurrently(self, names: list[str]) -> dict[str, Observed]:
        from concurrent.futures import Future, ThreadPoolExecutor

        futures: dict[str, Future] = {}

        def one(name: str) -> Observed:
            for before in self.handler(name).after:
                if before in futures:
                    futures[before].result()  # submitted earlier: never a wait on a later stage
            return self._observe_one(name)

        # The pool starts stages in order, so a stage waiting for an earlier one waits for a stage
        # that is running or done: the wait always ends.
        with ThreadPoolExecutor(max_workers=min(self.observe_workers, len(names)) or 1) as pool:
            for name in names:
                futures[name] = pool.submit(one, name)
            return {name: future.result() for name, future in futures.items()}

    def apply_stage(self, planned: PlannedStage, events: Events, ready: Ready = not_ready) -> dict:
        record = self.handler(planned.name).apply(self, planned, events, ready)
        return self.state.record_stage(planned, as_dict(record))

    def destroy_stage(self, name: str) -> None:
        destroy = self.handler(name).destroy
        if destroy is not None:
            destroy(self, self.state.stages().get(name, {}))
        self.state.forget(name)

    def model_metrics(self, ref: str) -> dict[str, float]:
        return {}

    def left_running(self, stage: str, alongside: Sequence[str] = ()) -> str:
        return ""

    def routed(self) -> list[Served] | None:
        return None
