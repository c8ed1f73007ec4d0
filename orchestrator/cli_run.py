"""The commands that act on a target: apply, destroy (apply in destroy mode), status, report,
lock, invoke. Registered on the `cli` group by orchestrator.cli (COMMANDS); like every command,
each parses its options into one `Options`, picks its view and calls orchestrator.commands.
"""

from __future__ import annotations

import sys

import click

from orchestrator.cli_options import CREDENTIAL, FAIL_FAST, FORCE_UNLOCK, LOCKED, OUTPUT, PARALLEL, PARALLEL_READS, YES
from orchestrator.errors import OrchestrateError


@click.command()
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
def apply(specs: tuple[str, ...], output: str, **given) -> None:
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
    from orchestrator import commands
    from orchestrator.options import Options
    from orchestrator.plan import make_plan
    from orchestrator.runs import expand
    from orchestrator.views.commands import apply_view

    paths = [str(p) for p in expand(specs)]
    view = apply_view(output, "Apply")
    nothing = "No changes: every stage is up to date."
    sys.exit(commands.apply(paths, make_plan, Options.of(given), view, "Apply this plan?", nothing))


@click.command()
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
def destroy(specs: tuple[str, ...], output: str, **given) -> None:
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
    from orchestrator import commands
    from orchestrator.options import Options
    from orchestrator.plan import make_destroy_plan
    from orchestrator.runs import expand
    from orchestrator.views.commands import apply_view

    opts = Options.of(given)
    keep = ("register", "data") if opts.keep_model_and_data else ()

    def make(the_spec, observed, notices, checks=()):
        return make_destroy_plan(the_spec, observed, keep)

    paths = [str(p) for p in expand(specs)]
    view = apply_view(output, "Destroy")
    sys.exit(commands.apply(paths, make, opts, view, "Destroy these resources?", "Nothing to destroy."))


@click.command()
@click.argument("specs", nargs=-1, required=True, metavar="SPEC...")
@OUTPUT
@CREDENTIAL
@PARALLEL_READS
def status(specs: tuple[str, ...], output: str, **given) -> None:
    """Every stage's resource, whether it exists, and drift from the spec. On azureml the state is
    read from Azure (tags on every resource); the endpoint's scoring URI is shown, never its keys.
    Several specs, or a directory, are read --parallel at a time.

    \b
    orchestrate status specs/quickstart-local.yaml -o json
    orchestrate status specs/
    """
    from orchestrator import commands, runs
    from orchestrator.options import Options
    from orchestrator.views.commands import status_view

    paths = [str(p) for p in runs.expand(specs)]
    sys.exit(commands.statuses(paths, Options.of(given), status_view(output)))


@click.command()
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
    from orchestrator.commands import status_of
    from orchestrator.estimate import estimate
    from orchestrator.report import markdown

    read = status_of(spec, credential)
    text = markdown(read.spec, read.records, read.achieved, estimate(read.spec))
    if out:
        from pathlib import Path

        Path(out).write_text(text + "\n", encoding="utf-8")
        click.echo(f"wrote {out}", err=True)
    else:
        click.echo(text)


@click.command()
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


@click.command()
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


COMMANDS = (apply, destroy, status, report, lock, invoke)
