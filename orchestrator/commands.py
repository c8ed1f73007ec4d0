"""What the commands that read or act on a target do, between the command line (cli, cli_run:
parse the options into one `Options`, pick the view) and the view (views/commands.py: show).

Nothing here prints or knows the output format: each flow tells its view what happened.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

from orchestrator import runs
from orchestrator.errors import OrchestrateError
from orchestrator.kinds import PlanMode
from orchestrator.options import Options
from orchestrator.runs import Run


def plan(paths: Sequence[str], opts: Options, view, out_file: str | None = None) -> int:
    """`plan` of one spec or several: each plan with its estimate, then (several) one summary.
    The exit code: with --detailed-exitcode 2 when something would change."""
    from orchestrator.estimate import estimate, load_prices
    from orchestrator.plan import make_plan

    if len(paths) > 1:
        results = runs.in_pool(paths, lambda path: runs.prepare(path, make_plan, opts, lock=False), opts.parallel)
    else:  # one spec: its errors are raised, whole
        results = [_planned(paths[0], opts)]
    table = load_prices(opts.prices)
    for r in results:
        if r.plan is not None:
            r.estimate = estimate(r.spec, prices=table, throughput=opts.throughput)
    if len(paths) > 1:
        view.plans(results)
    else:
        (run,) = results
        assert run.plan is not None
        if out_file:
            from orchestrator.views import plan_document

            document = plan_document(run.plan, run.estimate)
            Path(out_file).write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        view.plan(run)
        from orchestrator.preflight import refuse

        refuse(run.plan.checks)  # shown in full above; the one line says why apply would refuse
    codes = [r.exit_code for r in results]
    if opts.detailed_exitcode:
        codes += [runs.EXIT_CHANGES for r in results if r.plan is not None and r.plan.has_changes]
    return runs.worst(codes)


def _planned(path: str, opts: Options) -> Run:
    """One spec planned without a lock (offline: from its lock file alone, no target)."""
    from orchestrator import lockfile
    from orchestrator.plan import make_plan
    from orchestrator.registry import target as get_target

    run = Run(path)
    the_spec = runs.loaded(run)
    if opts.offline:
        return runs.planned_offline(run, the_spec, make_plan)
    try:
        target = get_target(the_spec, opts.credential)
        observed = target.observe()
    except OrchestrateError as exc:
        raise OrchestrateError(f"{exc}\n(`orchestrate plan --offline` plans without reading the target)") from None
    if opts.locked:
        lockfile.check_current(target.spec, target.pins or {})
    run.spec = target.spec
    run.plan = make_plan(target.spec, observed, target.notices, target.checks)
    return run


def apply(paths: Sequence[str], make: Callable, opts: Options, view, question: str, nothing: str) -> int:
    """apply or destroy (by `make`, the plan maker) of one spec or several; the exit code."""
    if len(paths) > 1:
        return _apply_many(paths, make, opts, view)
    run, records = _apply_one(paths[0], make, opts, view, question, nothing)
    if run is not None:
        view.done(run, records)
    return 0


def _apply_one(path: str, make: Callable, opts: Options, view, question: str, nothing: str):
    """Under the run's lock: observe, plan, show, confirm, execute. (None, {}) when nothing to do.

    PATH may be a plan saved by `plan --out`: then it is applied without asking, but only if the
    spec and the observed state are what they were when it was saved.
    """
    from orchestrator.apply import check_saved_plan, execute, read_saved_plan
    from orchestrator.preflight import refuse
    from orchestrator.registry import target as get_target
    from orchestrator.spec.validate import load_runspec
    from orchestrator.state import RunLock

    saved = read_saved_plan(path) if path.endswith(".json") else None
    the_spec = load_runspec(saved["spec_path"] if saved else path)
    target = get_target(the_spec, opts.credential)
    opts.set_on(target)
    run = Run(path, name=the_spec.name, target=target)
    with RunLock(target.root, the_spec.name), target.lock(opts.force_unlock):
        runs.plan_observed(run, make, opts)
        assert run.plan is not None
        if saved:
            check_saved_plan(saved, run.plan)
        run.estimate = _estimate(run)
        view.plan(run)
        if run.plan.mode == PlanMode.APPLY:
            refuse(run.plan.checks)  # before the lock file, the question and the first billable call
        if not run.plan.has_changes:
            _write_lock(run, view)
            view.say(nothing)
            return None, {}
        if not saved:
            view.confirm(question, opts.yes)
        _write_lock(run, view)
        return run, execute(target, run.plan, view.events(run))


def _apply_many(paths: Sequence[str], make: Callable, opts: Options, view) -> int:
    """Apply or destroy several specs: plan all (each under its own locks), show every plan, ask
    once, execute, sum up; the worst result."""
    results = runs.in_pool(paths, lambda path: runs.prepare(path, make, opts), opts.parallel, share=False)
    try:
        for r in results:
            r.many = True
            if r.plan is None:
                view.failed(r.path, r.error)
            else:
                r.estimate = _estimate(r)
                view.plan(r)
        pending = [r for r in results if r.plan is not None and r.plan.has_changes]
        if pending:
            view.confirm(f"{view.verb} these {len(pending)} plans?", opts.yes)
        for r in results:
            if r.plan is not None:
                _write_lock(r, view)
    except BaseException:
        for r in results:
            runs.release(r)
        raise
    runs.execute_all(results, parallel=opts.parallel, fail_fast=opts.fail_fast, events=view.events)
    view.summary(results)
    return runs.worst([r.exit_code for r in results])


def _estimate(run: Run):
    """The estimate of what an apply will run (None for a destroy)."""
    from orchestrator.estimate import estimate

    assert run.plan is not None
    return estimate(run.spec) if run.plan.mode == PlanMode.APPLY else None


def _write_lock(run: Run, view) -> None:
    """The pins this apply runs with go to the lock file beside the spec before any stage runs, so
    a killed apply resumes with the same versions."""
    from orchestrator import lockfile

    assert run.plan is not None
    if run.plan.mode != PlanMode.APPLY:
        return
    target = run.target
    written = lockfile.write(target.spec, target.pins or {})
    if written is not None:
        view.say(f"wrote {written}: {', '.join(lockfile.changes(target.locked, target.pins or {}))}")


def status_of(path: str, credential: str | None):
    """What `status` and `report` show of one run, read from its target."""
    from orchestrator.plan import make_plan
    from orchestrator.registry import target as get_target
    from orchestrator.spec.validate import load_runspec
    from orchestrator.status import Status, deployment_rows, model_metrics, status_rows

    the_spec = load_runspec(path)
    target = get_target(the_spec, credential)
    observed = target.observe()
    the_plan = make_plan(target.spec, observed, target.notices, target.checks)
    records = target.state.stages()
    endpoint = observed.get("endpoint")
    served = target.deployments() if endpoint is not None and endpoint.exists else []
    return Status(
        spec=the_spec,
        stages=status_rows(the_plan, observed, records, target.scoring_uri),
        deployments=deployment_rows(served, records),
        checks=tuple(the_plan.checks),
        achieved=model_metrics(served, target.model_metrics),
        records=records,
    )


def statuses(paths: Sequence[str], opts: Options, view) -> int:
    """`status` of one spec (its errors raised) or several (each error shown, exit 1)."""
    if len(paths) == 1:
        view.status(status_of(paths[0], opts.credential))
        return 0

    def one(path: str):
        try:
            return path, status_of(path, opts.credential), None
        except OrchestrateError as exc:
            return path, None, exc

    results = runs.in_pool(paths, one, opts.parallel)
    view.statuses(results)
    return runs.worst([1 if error is not None else 0 for *_, error in results])
