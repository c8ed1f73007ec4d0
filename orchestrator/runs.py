"""Acting on several specs at once (`plan specs/`, `apply specs/ --parallel 4`): each run is
observed, planned and applied on its own, under its own locks, in a bounded pool of threads.

One failing run does not stop the others (`--fail-fast` keeps the runs not started yet from
starting); the exit code is the worst result. Runs of the local target take turns: they share
this machine's CPU and memory, and one fine-tune already uses every core.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.errors import OrchestrateError
from orchestrator.kinds import PlanMode
from orchestrator.options import Options
from orchestrator.plan import Plan
from orchestrator.preflight import refuse

if TYPE_CHECKING:
    from orchestrator.events import Events

EXIT_OK, EXIT_ERROR, EXIT_CHANGES, EXIT_INTERRUPTED = 0, 1, 2, 130


@dataclass
class Run:
    """One spec's way through a command: what it planned, what it did, how it ended."""

    path: str
    name: str = ""
    target: Any = None  # orchestrator.target.Target, once the spec loaded
    spec: Any = None  # the spec as planned (pins applied), once planned
    plan: Plan | None = None
    estimate: Any = None  # orchestrator.estimate.Estimate of an apply plan, once planned
    many: bool = False  # one of several specs in one command
    error: str = ""
    exit_code: int = EXIT_OK
    locks: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)

    def fail(self, exc: BaseException) -> None:
        self.error = str(exc) if isinstance(exc, OrchestrateError) else f"{type(exc).__name__}: {exc}"
        self.exit_code = getattr(exc, "exit_code", EXIT_ERROR) or EXIT_ERROR


def prepare(path: str, make: Callable, opts: Options, *, lock: bool = True) -> Run:
    """Load, lock (local flock and the target's lock, held until `release`), observe and plan one
    spec. A user error ends up in `Run.error`, never raised: the other runs go on. Offline
    (`opts.offline`) plans from the spec and its lock file alone (no target, no lock)."""
    run = Run(path)
    try:
        from orchestrator.registry import target as get_target
        from orchestrator.state import RunLock

        spec = loaded(run)
        if opts.offline:
            return planned_offline(run, spec, make)
        run.target = get_target(spec, opts.credential)
        opts.set_on(run.target)
        if lock:
            run.locks.enter_context(RunLock(run.target.root, spec.name))
            run.locks.enter_context(run.target.lock(opts.force_unlock))
        plan_observed(run, make, opts)
        assert run.plan is not None
        if run.plan.mode == PlanMode.APPLY:
            refuse(run.plan.checks)  # the plan stays, to be shown; the run does not start
    except (OrchestrateError, ImportError) as exc:
        _fail_import(run, exc)
        release(run)
    return run


def loaded(run: Run):
    """The run's spec, loaded (validated) from its path; the run takes its name."""
    from orchestrator.spec.validate import load_runspec

    spec = load_runspec(run.path)
    run.name = spec.name
    return spec


def plan_observed(run: Run, make: Callable, opts: Options) -> None:
    """Observe the run's target, check its lock file (--locked), and plan against what was seen."""
    from orchestrator import lockfile

    observed = run.target.observe()
    if opts.locked:
        lockfile.check_current(run.target.spec, run.target.pins or {})
    run.spec = run.target.spec
    run.plan = make(run.spec, observed, run.target.notices, run.target.checks)


def planned_offline(run: Run, spec, make: Callable) -> Run:
    """The run planned from its spec and lock file alone: no target is read, nothing is locked."""
    from orchestrator import lockfile

    run.spec = lockfile.locked(spec)
    run.plan = make(run.spec, None, ())
    return run


def _fail_import(run: Run, exc: BaseException) -> None:
    if isinstance(exc, ImportError):
        from orchestrator.extras import missing

        error = missing(exc, f"the run of {run.path}")
        if error is None:
            raise exc
        exc = error
    run.fail(exc)


def release(run: Run) -> None:
    try:
        run.locks.close()
    except OrchestrateError as exc:  # a lock that would not let go: the run's result stands, say so
        run.error = run.error or f"releasing the lock: {exc}"


def in_pool(items: Sequence, fn: Callable, parallel: int, *, share: bool = True) -> list:
    """fn over items with at most `parallel` at once; results in the order of items. The threads
    are daemons and the wait is interruptible: Ctrl-C does not wait for runs in flight.

    `share`: the runs share one credential and one client per workspace and registry (what reads
    do); apply and destroy keep a client per run, so no two runs write through one SDK object."""
    from orchestrator import registry
    from orchestrator.apply import in_thread

    with registry.sharing() if share else contextlib.nullcontext():
        if parallel <= 1 or len(items) <= 1:
            return [fn(item) for item in items]
        gate = threading.Semaphore(parallel)

        def gated(item):
            with gate:
                return fn(item)

        futures = [in_thread(functools.partial(gated, item), "orchestrate-run") for item in items]
        return [future.result() for future in futures]


def execute_all(runs: list[Run], *, parallel: int, fail_fast: bool, events: Callable[[Run], Events]) -> None:
    """Execute every run with a plan that has changes, `parallel` at a time (local runs one at a
    time). With `fail_fast`, a failure keeps the runs not started yet from starting. `events`
    makes a run's progress events (its view's)."""
    from orchestrator.apply import execute

    failed = False

    def one(run: Run) -> None:
        nonlocal failed
        try:
            if run.error or run.plan is None or not run.plan.has_changes:
                return  # a run that failed to plan, or that its pre-flight refused, never starts
            if fail_fast and failed:
                run.error, run.exit_code = "not started: an earlier run failed (--fail-fast)", EXIT_ERROR
                return
            try:
                execute(run.target, run.plan, events(run))
            except (OrchestrateError, ImportError) as exc:
                _fail_import(run, exc)
                failed = True
                if run.exit_code == EXIT_INTERRUPTED:  # Ctrl-C during a local run: no next run
                    raise
        finally:
            release(run)

    # A target whose runs share this machine (local: the CPU) runs them one at a time.
    alone = [r for r in runs if r.target is not None and not r.target.parallel]
    in_pool([r for r in runs if r not in alone], one, parallel, share=False)
    in_pool(alone, one, 1, share=False)


def worst(codes: Sequence[int]) -> int:
    """The exit code of several runs: interrupted over error over changes over success."""
    for code in (EXIT_INTERRUPTED, EXIT_ERROR, EXIT_CHANGES):
        if code in codes:
            return code
    return EXIT_OK


def expand(paths: Sequence[str]) -> list[Path]:
    """Spec files named directly, plus every *.yaml / *.yml inside a named directory."""
    out: list[Path] = []
    for raw in paths:
        path = Path(_plain_name(str(raw)))
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
            out.extend(Path(_plain_name(str(p))) for p in found)
        else:
            out.append(path)
    if not out:
        raise OrchestrateError(f"no .yaml files in {', '.join(paths)}")
    return out


def _plain_name(path: str) -> str:
    """A spec path, refused when it holds a control character: a newline or an escape in a file
    name forges lines in logs, terminals and CI annotations."""
    from orchestrator.escape import CONTROL_IN_NAME, visible

    if CONTROL_IN_NAME.search(path):
        raise OrchestrateError(f"spec path {visible(path)} has control characters: rename the file")
    return path
