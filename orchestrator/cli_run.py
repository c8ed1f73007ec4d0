"""The commands that act on a target: apply, destroy (apply in destroy mode), status, invoke.

Registered on the `cli` group of orchestrator.cli; like every command, each parses options,
calls the core and renders.
"""

from __future__ import annotations

import json
import sys

import click

from orchestrator.cli import CREDENTIAL, FORCE_UNLOCK, LOCKED, OUTPUT, PARALLEL, PARALLEL_READS, cli
from orchestrator.errors import OrchestrateError
from orchestrator.kinds import PlanMode

YES = click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation (needed without a terminal).")


def _confirm(question: str, yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise OrchestrateError("refusing to act without confirmation: no terminal to ask on; pass -y/--yes")
    if not click.confirm(question, default=False, err=True):
        raise OrchestrateError("cancelled; nothing was changed")


def _show_plan(the_plan, output: str) -> None:
    from orchestrator.views import color_enabled, plan_json, plan_text

    if output == "json":
        click.echo(json.dumps({"event": "plan", "plan": json.loads(plan_json(the_plan))}))
    else:
        click.echo(plan_text(the_plan, color=color_enabled()))


def _plan_and_execute(
    spec: str,
    make,
    output: str,
    yes: bool,
    question: str,
    nothing: str,
    credential: str | None = None,
    force_unlock: bool = False,
    locked: bool = False,
    **options: bool,
):
    """Under the run's lock: observe, plan, show, confirm, execute. (None, {}) when nothing to do.
    `options` are set on the target (keep_failed, force).

    SPEC may be a plan saved by `plan --out`: then it is applied without asking, but only if the
    spec and the observed state are what they were when it was saved.
    """
    from orchestrator import lockfile
    from orchestrator.apply import check_saved_plan, execute, read_saved_plan
    from orchestrator.events import Events
    from orchestrator.preflight import refuse
    from orchestrator.registry import target as get_target
    from orchestrator.spec.validate import load_runspec
    from orchestrator.state import RunLock

    saved = read_saved_plan(spec) if spec.endswith(".json") else None
    the_spec = load_runspec(saved["spec_path"] if saved else spec)
    target = get_target(the_spec, credential)
    vars(target).update(options)
    with RunLock(target.root, the_spec.name), target.lock(force_unlock):
        observed = target.observe()
        if locked:
            lockfile.check_current(target.spec, target.pins or {})
        the_plan = make(target.spec, observed, target.notices, target.checks)
        if saved:
            check_saved_plan(saved, the_plan)
        _show_plan(the_plan, output)
        if the_plan.mode == PlanMode.APPLY:
            refuse(the_plan.checks)  # before the lock file, the question and the first billable call
        if not the_plan.has_changes:
            _write_lock(the_plan, target)
            click.echo(nothing, err=True)
            return None, {}
        if not saved:
            _confirm(question, yes)
        _write_lock(the_plan, target)
        events = Events("json" if output == "json" else "text", run=the_spec.name)
        return the_plan, execute(target, the_plan, events)


def _write_lock(the_plan, target) -> None:
    """The pins this apply runs with go to the lock file beside the spec before any stage runs, so
    a killed apply resumes with the same versions."""
    from orchestrator import lockfile

    if the_plan.mode != PlanMode.APPLY:
        return
    written = lockfile.write(target.spec, target.pins or {})
    if written is not None:
        click.echo(f"wrote {written}: {', '.join(lockfile.changes(target.locked, target.pins or {}))}", err=True)


FAIL_FAST = click.option(
    "--fail-fast", is_flag=True, help="With several specs: a failed run keeps the runs not started yet from starting."
)


@cli.command()
@click.argument("specs", nargs=-1, required=True, metavar="SPEC...")
@YES
@OUTPUT
@CREDENTIAL
@FORCE_UNLOCK
@PARALLEL
@FAIL_FAST
@LOCKED
@click.option(
    "--keep-failed",
    is_flag=True,
    help="A new deployment that fails its gates stays (at 0 % traffic) for inspection instead of being deleted.",
)
def apply(
    specs: tuple[str, ...],
    yes: bool,
    output: str,
    credential: str | None,
    force_unlock: bool,
    parallel: int,
    fail_fast: bool,
    locked: bool,
    keep_failed: bool,
) -> None:
    """Run the stages the plan says: data, model, compute, fine-tune, register, endpoint,
    deployment, smoke test, traffic (and teardown when the spec asks).

    An update is a blue/green rollout (deployment.rollout): a new model gets a new deployment
    beside the serving one, smoke-tested and evaluated at 0 % traffic, then given traffic in the
    spec's steps; the old one is deleted last. A failed gate, an error or Ctrl-C gives the serving
    deployment its traffic back and deletes the new one (--keep-failed keeps it).

    Shows the plan first, with its pre-flight (see `plan --help`): a failed check refuses the
    apply in one line before anything is created. Then asks before acting. Idempotent: an
    unchanged spec changes nothing.
    A killed apply is resumed by the next one. -o json streams NDJSON events on stdout. Given a
    plan saved with `plan --out`, applies exactly that plan, and refuses if the spec or the
    target's state changed since it was saved. The versions the run uses (model `latest`, the
    pipeline component, a Hub dataset's revision) are written to the lock file beside the spec
    (SPEC.lock): commit it.

    Several specs, or a directory: every plan is shown, one confirmation, then the runs apply
    --parallel at a time (runs of the local target one after another). A failed run does not
    stop the others unless --fail-fast; the exit code is the worst result.

    \b
    orchestrate apply specs/quickstart-local.yaml
    orchestrate apply specs/quickstart-local.yaml -y -o json
    orchestrate plan specs/quickstart-local.yaml --out plan.json && orchestrate apply plan.json
    orchestrate apply specs/phi4-ultrachat.yaml --credential cli
    orchestrate apply specs/ --yes --parallel 8

    On azureml, a lease on a blob of the workspace's default datastore locks the run, so two
    applies of one spec cannot interleave, even from two machines.
    """
    from orchestrator.plan import make_plan
    from orchestrator.runs import expand

    paths = [str(p) for p in expand(specs)]
    if len(paths) > 1:
        _many(
            paths, make_plan, "Apply", output, yes, credential, force_unlock, parallel, fail_fast, locked, keep_failed
        )
    the_plan, records = _plan_and_execute(
        paths[0],
        make_plan,
        output,
        yes,
        "Apply this plan?",
        "No changes: every stage is up to date.",
        credential,
        force_unlock,
        locked,
        keep_failed=keep_failed,
    )
    if the_plan is None:
        return
    smoke = records.get("smoke_test")
    if smoke and output != "json":
        click.echo(f"smoke test: HTTP {smoke['status']} in {smoke['latency_ms']:.0f} ms")
        click.echo(f"answer: {smoke['answer']}")
    click.echo(f"Apply complete: {the_plan.summary()}", err=True)


def _many(
    paths: list[str],
    make,
    verb: str,
    output: str,
    yes: bool,
    credential: str | None,
    force_unlock: bool,
    parallel: int,
    fail_fast: bool,
    locked: bool = False,
    keep_failed: bool = False,
    force: bool = False,
) -> None:
    """Apply or destroy several specs: plan all (each under its own locks), show every plan, ask
    once, execute, sum up; exits with the worst result."""
    from orchestrator import runs
    from orchestrator.views import color_enabled, plan_json, plan_text

    out, err = runs.stdout(), runs.stderr()
    results = runs.in_pool(
        paths,
        lambda path: runs.prepare(
            path,
            make,
            credential=credential,
            force_unlock=force_unlock,
            locked=locked,
            keep_failed=keep_failed,
            force=force,
        ),
        parallel,
        share=False,
    )
    try:
        for r in results:
            if r.plan is None:
                click.echo(f"error: {r.path}: {r.error}", err=True)
            elif output == "json":
                event = {"event": "plan", "run": r.name, "plan": json.loads(plan_json(r.plan))}
                click.echo(json.dumps(event), file=out)
            else:
                click.echo(plan_text(r.plan, color=color_enabled()) + "\n", file=out)
        pending = [r for r in results if r.plan is not None and r.plan.has_changes]
        if pending:
            _confirm(f"{verb} these {len(pending)} plans?", yes)
        for r in results:
            if r.plan is not None:
                _write_lock(r.plan, r.target)
    except BaseException:
        for r in results:
            runs.release(r)
        raise
    runs.execute_all(results, parallel=parallel, fail_fast=fail_fast, output=output, out=out, err=err)
    if output == "json":
        rows = [{"run": r.name, "spec": r.path, "error": r.error, "exit_code": r.exit_code} for r in results]
        click.echo(json.dumps({"event": "summary", "runs": rows}), file=out)
    else:
        click.echo(runs.summary_text(results, verb), err=True)
    sys.exit(runs.worst([r.exit_code for r in results]))


@cli.command()
@click.argument("specs", nargs=-1, required=True, metavar="SPEC...")
@YES
@OUTPUT
@CREDENTIAL
@FORCE_UNLOCK
@click.option(
    "--keep-model-and-data",
    is_flag=True,
    help="Leave the registered model version and the data versions (delete only what bills).",
)
@PARALLEL
@FAIL_FAST
@click.option(
    "--force", is_flag=True, help="Delete the endpoint even when it also holds deployments this run did not make."
)
def destroy(
    specs: tuple[str, ...],
    yes: bool,
    output: str,
    credential: str | None,
    force_unlock: bool,
    keep_model_and_data: bool,
    parallel: int,
    fail_fast: bool,
    force: bool,
) -> None:
    """Delete what this spec created, last stage first: the endpoint (it bills by the hour), every
    deployment of the run, the registered model version and the run's files. An endpoint that
    also holds deployments the run did not make is left, with theirs (--force deletes it). On
    azureml only resources whose tags name this run are deleted (model and data versions are
    archived; jobs stay in the history; a cluster is deleted only if this run created it).

    \b
    orchestrate destroy specs/quickstart-local.yaml -y
    orchestrate destroy specs/phi4-ultrachat.yaml --keep-model-and-data
    orchestrate destroy specs/ -y
    """
    from orchestrator.plan import make_destroy_plan
    from orchestrator.runs import expand

    keep = ("register", "data") if keep_model_and_data else ()

    def make(the_spec, observed, notices, checks=()):
        return make_destroy_plan(the_spec, observed, keep)

    paths = [str(p) for p in expand(specs)]
    if len(paths) > 1:
        _many(paths, make, "Destroy", output, yes, credential, force_unlock, parallel, fail_fast, force=force)
    the_plan, _ = _plan_and_execute(
        paths[0],
        make,
        output,
        yes,
        "Destroy these resources?",
        "Nothing to destroy.",
        credential,
        force_unlock,
        force=force,
    )
    if the_plan is None:
        return
    click.echo(f"Destroy complete: {the_plan.summary()}", err=True)


@cli.command()
@click.argument("specs", nargs=-1, required=True, metavar="SPEC...")
@OUTPUT
@CREDENTIAL
@PARALLEL_READS
def status(specs: tuple[str, ...], output: str, credential: str | None, parallel: int) -> None:
    """Every stage's resource, whether it exists, and drift from the spec. On azureml the state is
    read from Azure (tags on every resource); the endpoint's scoring URI is shown, never its keys.
    Several specs, or a directory, are read --parallel at a time.

    \b
    orchestrate status specs/quickstart-local.yaml -o json
    orchestrate status specs/
    """
    from orchestrator import runs

    paths = [str(p) for p in runs.expand(specs)]
    if len(paths) == 1:
        the_spec, rows = _status_of(paths[0], credential)
        click.echo(_status_shown(the_spec, rows, output))
        return
    out = runs.stdout()

    def one(path: str):
        try:
            return path, *_status_of(path, credential), None
        except OrchestrateError as exc:
            return path, None, None, exc

    results = runs.in_pool(paths, one, parallel)
    shown = []  # -o json: one document, {"runs": [each run's status, or its error]}
    for path, the_spec, rows, error in results:
        if error is not None:
            click.echo(f"error: {path}: {error}", err=True)
            shown.append({"spec": path, "error": str(error)})
        elif output == "json":
            shown.append({"spec": path, **json.loads(_status_shown(the_spec, rows, output))})
        else:
            click.echo(f"{the_spec.name} ({path})\n{_status_shown(the_spec, rows, output)}\n", file=out)
    if output == "json":
        click.echo(json.dumps({"runs": shown}, indent=2), file=out)
    sys.exit(runs.worst([1 if error is not None else 0 for *_, error in results]))


def _status_of(path: str, credential: str | None):
    from orchestrator.plan import make_plan
    from orchestrator.registry import target as get_target
    from orchestrator.spec.validate import load_runspec
    from orchestrator.status import deployment_rows, model_metrics, status_rows

    the_spec = load_runspec(path)
    target = get_target(the_spec, credential)
    observed = target.observe()
    the_plan = make_plan(target.spec, observed, target.notices, target.checks)
    records = target.state.stages()
    endpoint = observed.get("endpoint")
    served = target.deployments() if endpoint is not None and endpoint.exists else []
    rows = status_rows(the_plan, observed, records, target.scoring_uri)
    achieved = model_metrics(served, target.model_metrics)
    return the_spec, (rows, deployment_rows(served, records), the_plan.checks, achieved, records)


def _status_shown(the_spec, rows, output: str) -> str:
    from orchestrator.views import status_json, status_text

    stages, deployments, checks, achieved, _ = rows
    if output == "json":
        return status_json(the_spec, stages, deployments, checks, achieved)
    return status_text(stages, deployments, checks, achieved)


@cli.command()
@click.argument("spec")
@CREDENTIAL
@click.option(
    "--out", type=click.Path(dir_okay=False, writable=True), help="Write the markdown here instead of stdout."
)
def report(spec: str, credential: str | None, out: str | None) -> None:
    """A markdown summary of the run as it stands, for a pull-request comment: the serving model's
    fine-tune metrics against the model before it, the gate's scores (candidate and serving), each
    stage's time and the cost estimate. Reads the target; changes nothing.

    \b
    orchestrate report specs/quickstart-local.yaml
    orchestrate report specs/phi4-ultrachat.yaml --out report.md
    """
    from orchestrator.estimate import estimate
    from orchestrator.report import markdown

    the_spec, (_, _, _, achieved, records) = _status_of(spec, credential)
    text = markdown(the_spec, records, achieved, estimate(the_spec))
    if out:
        from pathlib import Path

        Path(out).write_text(text + "\n", encoding="utf-8")
        click.echo(f"wrote {out}", err=True)
    else:
        click.echo(text)


@cli.command()
@click.argument("specs", nargs=-1, required=True, metavar="SPEC...")
@click.option("--upgrade", is_flag=True, help="Move every pin to what the registry and the Hub serve now.")
@click.option(
    "--check",
    is_flag=True,
    help="Write nothing; exit 2 when a lock file is missing, --upgrade would move a pin, or the model retires soon.",
)
@CREDENTIAL
@PARALLEL_READS
def lock(specs: tuple[str, ...], upgrade: bool, check: bool, credential: str | None, parallel: int) -> None:
    """Write the lock file beside each spec (SPEC.lock): the versions its moving references
    resolve to (base model `latest`, the chat_completion_pipeline component, a Hub dataset's
    revision). Pins already locked stay; --upgrade moves them to the newest. Commit the lock: a
    moved pin shows in `orchestrate diff` and `plan` as the stages it reruns (a new base model
    reruns the fine-tune and what follows).

    \b
    orchestrate lock specs/phi4-ultrachat.yaml
    orchestrate lock --upgrade specs/
    orchestrate lock --check specs/     # exit 2 when something newer is out, or retires within 90 days
    """
    from orchestrator import lockfile, runs
    from orchestrator.registry import target as get_target
    from orchestrator.spec.validate import load_runspec
    from orchestrator.views import checks_text

    moved = []  # specs whose lock --check finds missing or behind

    def one(path: str) -> tuple[str, list[str], str]:
        try:
            target = get_target(load_runspec(path), credential)
            pins = target.resolve(upgrade=upgrade or check)
        except OrchestrateError as exc:
            return path, [], str(exc)
        if not pins:
            return path, [f"{path}: nothing to pin (no registry model, component or Hub dataset)"], ""
        if check:
            lines = lockfile.changes(target.locked, pins)
            behind = [line for line in lines if not line.endswith("(unchanged)")]
            # A pinned model (or a VM series) near or past retirement is drift too: the scheduled
            # check is where a team hears of it before the registry stops serving it.
            aging = checks_text([c for c in target.preflight(("model",)) if c.verdict in ("warn", "fail")])
            if behind or aging:
                moved.append(path)
            where = lockfile.path_for(target.spec)
            state = "would change" if behind else "retiring" if aging else "up to date"
            return path, [f"{where}: {state}"] + [f"  {x}" for x in lines] + aging, ""
        written = lockfile.write(target.spec, pins)
        where = written or lockfile.path_for(target.spec)
        lines = [f"{where}{'' if written else ' (unchanged)'}:"]
        lines += [f"  {line}" for line in lockfile.changes(target.locked, pins)]
        lines += [f"  note: {notice}" for notice in target.notices]
        return path, lines, ""

    results = runs.in_pool([str(p) for p in runs.expand(specs)], one, parallel)
    for path, lines, error in results:
        if error:
            click.echo(f"error: {path}: {error}", err=True)
        for line in lines:
            click.echo(line)
    sys.exit(1 if any(error for *_, error in results) else 2 if moved else 0)


@cli.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--message", "-m", required=True, help="The user message to send.")
@click.option("--max-new-tokens", type=int, help="Override smoke_test.parameters.max_new_tokens.")
@click.option("--deployment", help="Send it to this deployment (the azureml-model-deployment header), not by traffic.")
@CREDENTIAL
def invoke(spec: str, message: str, max_new_tokens: int | None, deployment: str | None, credential: str | None) -> None:
    """Send one chat message to the run's live endpoint and print the answer.

    Uses the smoke test's generation parameters; the endpoint key is read from the run's state
    and never printed.

    \b
    orchestrate invoke specs/quickstart-local.yaml -m "What is the capital of Peru?"
    orchestrate invoke specs/quickstart-local.yaml -m "Hi" --deployment blue-3f2a1b
    """
    from orchestrator.registry import target as get_target
    from orchestrator.spec.validate import load_runspec

    the_spec = load_runspec(spec)
    target = get_target(the_spec, credential)
    params = dict(the_spec.smoke_test.parameters)
    if max_new_tokens:
        params["max_new_tokens"] = max_new_tokens
    result = target.invoke([{"role": "user", "content": message}], params, deployment=deployment)
    if result["status"] != 200:
        raise OrchestrateError(f"endpoint answered HTTP {result['status']}: {result.get('error', '')}")
    click.echo(result["answer"])
