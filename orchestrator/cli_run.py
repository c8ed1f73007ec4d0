"""The commands that act on a target: apply, destroy (apply in destroy mode), status, invoke.

Registered on the `cli` group of orchestrator.cli; like every command, each parses options,
calls the core and renders.
"""

from __future__ import annotations

import json
import sys

import click

from orchestrator.cli import CREDENTIAL, FORCE_UNLOCK, OUTPUT, cli
from orchestrator.errors import OrchestrateError

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
):
    """Under the run's lock: observe, plan, show, confirm, execute. (None, {}) when nothing to do.

    SPEC may be a plan saved by `plan --out`: then it is applied without asking, but only if the
    spec and the observed state are what they were when it was saved.
    """
    from orchestrator.apply import check_saved_plan, execute, get_target, read_saved_plan
    from orchestrator.events import Events
    from orchestrator.spec.validate import load_runspec
    from orchestrator.state import RunLock

    saved = read_saved_plan(spec) if spec.endswith(".json") else None
    the_spec = load_runspec(saved["spec_path"] if saved else spec)
    target = get_target(the_spec, credential)
    with RunLock(target.root, the_spec.name), target.lock(force_unlock):
        the_plan = make(the_spec, target.observe())
        if saved:
            check_saved_plan(saved, the_plan)
        _show_plan(the_plan, output)
        if not the_plan.has_changes:
            click.echo(nothing, err=True)
            return None, {}
        if not saved:
            _confirm(question, yes)
        return the_plan, execute(target, the_plan, Events("json" if output == "json" else "text"))


@cli.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@YES
@OUTPUT
@CREDENTIAL
@FORCE_UNLOCK
def apply(spec: str, yes: bool, output: str, credential: str | None, force_unlock: bool) -> None:
    """Run the stages the plan says: data, model, compute, fine-tune, register, endpoint,
    deployment, traffic, smoke test (and teardown when the spec asks).

    Shows the plan first and asks before acting. Idempotent: an unchanged spec changes nothing.
    A killed apply is resumed by the next one. -o json streams NDJSON events on stdout. Given a
    plan saved with `plan --out`, applies exactly that plan, and refuses if the spec or the
    target's state changed since it was saved.

    \b
    orchestrate apply specs/quickstart-local.yaml
    orchestrate apply specs/quickstart-local.yaml -y -o json
    orchestrate plan specs/quickstart-local.yaml --out plan.json && orchestrate apply plan.json
    orchestrate apply specs/phi3-ultrachat.yaml --credential cli

    On azureml, a lease on a blob of the workspace's default datastore locks the run, so two
    applies of one spec cannot interleave, even from two machines.
    """
    from orchestrator.plan import make_plan

    the_plan, records = _plan_and_execute(
        spec,
        make_plan,
        output,
        yes,
        "Apply this plan?",
        "No changes: every stage is up to date.",
        credential,
        force_unlock,
    )
    if the_plan is None:
        return
    smoke = records.get("smoke_test")
    if smoke and output != "json":
        click.echo(f"smoke test: HTTP {smoke['status']} in {smoke['latency_ms']:.0f} ms")
        click.echo(f"answer: {smoke['answer']}")
    click.echo(f"Apply complete: {the_plan.summary()}", err=True)


@cli.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@YES
@OUTPUT
@CREDENTIAL
@FORCE_UNLOCK
@click.option(
    "--keep-model-and-data",
    is_flag=True,
    help="Leave the registered model version and the data versions (delete only what bills).",
)
def destroy(
    spec: str, yes: bool, output: str, credential: str | None, force_unlock: bool, keep_model_and_data: bool
) -> None:
    """Delete what this spec created, last stage first: the endpoint (it bills by the hour), the
    deployment, the registered model version and the run's files. Nothing else is touched: on
    azureml only resources whose tags name this run are deleted (model and data versions are
    archived; jobs stay in the history; a cluster is deleted only if this run created it).

    \b
    orchestrate destroy specs/quickstart-local.yaml -y
    orchestrate destroy specs/phi3-ultrachat.yaml --keep-model-and-data
    """
    from orchestrator.plan import make_destroy_plan

    keep = ("register", "data") if keep_model_and_data else ()
    the_plan, _ = _plan_and_execute(
        spec,
        lambda the_spec, observed: make_destroy_plan(the_spec, observed, keep),
        output,
        yes,
        "Destroy these resources?",
        "Nothing to destroy.",
        credential,
        force_unlock,
    )
    if the_plan is None:
        return
    click.echo(f"Destroy complete: {the_plan.summary()}", err=True)


@cli.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@OUTPUT
@CREDENTIAL
def status(spec: str, output: str, credential: str | None) -> None:
    """Every stage's resource, whether it exists, and drift from the spec. On azureml the state is
    read from Azure (tags on every resource); the endpoint's scoring URI is shown, never its keys.

    \b
    orchestrate status specs/quickstart-local.yaml -o json
    """
    from orchestrator.apply import get_target
    from orchestrator.plan import make_plan
    from orchestrator.spec.validate import load_runspec
    from orchestrator.status import status_rows
    from orchestrator.views import status_json, status_text

    the_spec = load_runspec(spec)
    target = get_target(the_spec, credential)
    observed = target.observe()
    rows = status_rows(make_plan(the_spec, observed), observed, target.state.stages(), target.scoring_uri)
    click.echo(status_json(the_spec, rows) if output == "json" else status_text(rows))


@cli.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--message", "-m", required=True, help="The user message to send.")
@click.option("--max-new-tokens", type=int, help="Override smoke_test.parameters.max_new_tokens.")
@CREDENTIAL
def invoke(spec: str, message: str, max_new_tokens: int | None, credential: str | None) -> None:
    """Send one chat message to the run's live endpoint and print the answer.

    Uses the smoke test's generation parameters; the endpoint key is read from the run's state
    and never printed.

    \b
    orchestrate invoke specs/quickstart-local.yaml -m "What is the capital of Peru?"
    """
    from orchestrator.apply import get_target
    from orchestrator.spec.validate import load_runspec

    the_spec = load_runspec(spec)
    target = get_target(the_spec, credential)
    params = dict(the_spec.smoke_test.parameters)
    if max_new_tokens:
        params["max_new_tokens"] = max_new_tokens
    result = target.invoke([{"role": "user", "content": message}], params)
    if result["status"] != 200:
        raise OrchestrateError(f"endpoint answered HTTP {result['status']}: {result.get('error', '')}")
    click.echo(result["answer"])
