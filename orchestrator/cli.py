"""The `orchestrate` command line: each command parses options, calls the core and renders.

Exit codes: 0 success; 1 error or invalid spec; 2 usage error (or, with `plan
--detailed-exitcode`, changes pending); 130 interrupted.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from orchestrator import __version__
from orchestrator.errors import OrchestrateError, SpecError

PRICES = click.option(
    "--prices",
    type=click.Path(dir_okay=False, exists=True),
    help="YAML price table (currency: EUR, prices: {SKU: hourly price}) for money estimates.",
)
THROUGHPUT = click.option(
    "--throughput",
    type=click.IntRange(min=1),
    help="Assumed fine-tune tokens/s per GPU (default: a table per GPU family).",
)
CREDENTIAL = click.option(
    "--credential",
    type=click.Choice(["default", "cli", "environment", "managed_identity", "workload_identity", "interactive"]),
    help="azureml: how to authenticate, overriding workspace.credential.",
)
FORCE_UNLOCK = click.option(
    "--force-unlock",
    is_flag=True,
    help="azureml: break the run's lock on Azure first (only when the apply holding it is dead).",
)
OUTPUT = click.option(
    "--output",
    "-o",
    "output",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text for people, json for programs (on stdout).",
)


class _Group(click.Group):
    """Turns user-facing errors into one clear message; ORCHESTRATE_DEBUG=1 shows the traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except SpecError as exc:
            if os.environ.get("ORCHESTRATE_DEBUG"):
                raise
            from orchestrator.views import color_enabled, diagnostics_text

            click.echo(diagnostics_text(exc.diagnostics, color=color_enabled(sys.stderr)), err=True)
            ctx.exit(exc.exit_code)
        except OrchestrateError as exc:
            if os.environ.get("ORCHESTRATE_DEBUG"):
                raise
            click.echo(f"error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except ImportError as exc:
            # A lazily imported optional dependency (torch, azure.ai.ml, datasets...) is missing:
            # one line naming the extra that installs it. Any other ImportError is a bug.
            from orchestrator.extras import missing

            error = missing(exc, f"orchestrate {ctx.invoked_subcommand}")
            if error is None or os.environ.get("ORCHESTRATE_DEBUG"):
                raise
            click.echo(f"error: {error}", err=True)
            ctx.exit(error.exit_code)
        except KeyboardInterrupt:
            if os.environ.get("ORCHESTRATE_DEBUG"):
                raise
            click.echo("interrupted", err=True)
            ctx.exit(130)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="orchestrate")
def cli() -> None:
    """Turn one YAML run spec into a fine-tuned, deployed LLM on Azure ML (or on this machine).

    \b
    orchestrate init --template local specs/my-run.yaml   # a commented starter spec
    orchestrate validate specs/my-run.yaml                # schema + semantic checks, file:line:col
    orchestrate plan specs/my-run.yaml                    # ordered stages and what would happen
    orchestrate render specs/my-run.yaml --out build/     # Azure ML CLI v2 YAML of the entities

    Set ORCHESTRATE_DEBUG=1 to see full tracebacks.
    """


def _expand(paths: tuple[str, ...]) -> list[Path]:
    """Spec files named directly, plus every *.yaml / *.yml inside a named directory."""
    out: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            out.extend(sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file()))
        else:
            out.append(path)
    return out


@cli.command()
@click.argument("specs", nargs=-1, required=True, metavar="SPEC...")
@OUTPUT
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "github"]),
    default="text",
    show_default=True,
    help="github: print ::error annotations that GitHub Actions shows on the pull request.",
)
@click.option(
    "--no-env",
    is_flag=True,
    help="Leave ${env:NAME} references unresolved (CI without the secrets); all else is checked.",
)
def validate(specs: tuple[str, ...], output: str, fmt: str, no_env: bool) -> None:
    """Check specs against the schema and the cross-field rules, offline.

    Every problem is reported, located as FILE:LINE:COL with its JSON path and a fix. A directory
    checks every .yaml inside it. Exit 0 when all are valid, 1 otherwise.

    \b
    orchestrate validate specs/phi3-ultrachat.yaml
    orchestrate validate specs/ --format github --no-env
    orchestrate validate specs/run.yaml -o json
    """
    from orchestrator.spec.validate import check_file
    from orchestrator.views import color_enabled, diagnostics_json, diagnostics_text

    results = [check_file(path, build=False, interpolate=not no_env) for path in _expand(specs)]
    if not results:
        raise OrchestrateError(f"no .yaml files in {', '.join(specs)}")
    if output == "json":
        click.echo(diagnostics_json(results))
    elif fmt == "github":
        for result in results:
            for diag in result.diagnostics:
                click.echo(diag.format_github())
    else:
        color = color_enabled(sys.stderr)
        for result in results:
            if result.diagnostics:
                click.echo(diagnostics_text(result.diagnostics, color=color), err=True)
            if result.ok:
                click.echo(f"{result.path}: valid")
    sys.exit(0 if all(r.ok for r in results) else 1)


@cli.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@OUTPUT
@click.option(
    "--out", "out_file", type=click.Path(dir_okay=False, writable=True), help="Also save the plan as JSON to this file."
)
@click.option(
    "--detailed-exitcode", is_flag=True, help="Exit 0 when nothing would change, 2 when something would, 1 on error."
)
@click.option(
    "--offline",
    is_flag=True,
    help="Do not read the target (no Azure calls, no credentials): every stage shows as to create.",
)
@CREDENTIAL
@PRICES
@THROUGHPUT
def plan(
    spec: str,
    output: str,
    out_file: str | None,
    detailed_exitcode: bool,
    offline: bool,
    credential: str | None,
    prices: str | None,
    throughput: int | None,
) -> None:
    """Show the ordered stages, their resource names and fingerprints, and what apply would do.

    Names are derived from the run name (no timestamps); a fingerprint is the hash of the inputs
    that decide a stage, so a spec change shows exactly which stages rerun. The target is read
    (on azureml: read-only Azure calls, tags on every resource) to say what exists; --offline
    skips that, e.g. in CI without credentials.

    \b
    orchestrate plan specs/phi3-ultrachat.yaml
    orchestrate plan specs/phi3-ultrachat.yaml --offline -o json --out plan.json
    """
    from orchestrator.estimate import estimate, estimate_text, load_prices
    from orchestrator.plan import make_plan
    from orchestrator.spec.validate import load_runspec
    from orchestrator.views import color_enabled, plan_json, plan_text

    the_spec = load_runspec(spec)
    the_plan = make_plan(the_spec, _observe_unless_offline(the_spec, credential, offline))
    the_estimate = estimate(the_spec, prices=load_prices(prices), throughput=throughput)
    data = {**json.loads(plan_json(the_plan)), "estimate": the_estimate.to_dict()}
    if out_file:
        Path(out_file).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    if output == "json":
        click.echo(json.dumps(data, indent=2))
    else:
        click.echo(plan_text(the_plan, color=color_enabled()))
        click.echo(estimate_text(the_estimate))
    if detailed_exitcode and the_plan.has_changes:
        sys.exit(2)


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


def _observe_unless_offline(the_spec, credential: str | None = None, offline: bool = False):
    """The target's observed state (read-only calls), or None with --offline: all shown as to create."""
    from orchestrator.apply import get_target

    if offline:
        return None
    try:
        return get_target(the_spec, credential).observe()
    except OrchestrateError as exc:
        raise OrchestrateError(f"{exc}\n(`orchestrate plan --offline` plans without reading the target)") from None


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


@cli.command()
@click.argument("args", nargs=-1, required=True, metavar="OLD NEW | REV[..REV] [PATH...]")
@OUTPUT
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "markdown"]),
    default="text",
    show_default=True,
    help="markdown: a pull-request comment.",
)
def diff(args: tuple[str, ...], output: str, fmt: str) -> None:
    """Show what a spec change means: changed fields (defaults filled, so formatting-only edits
    show nothing) and the stages each change reruns.

    Two spec files, or git revisions: REV..REV compares two commits, a single REV compares it
    with the working tree. Paths default to specs/. Added, removed and renamed specs are shown.

    \b
    orchestrate diff old.yaml specs/run.yaml
    orchestrate diff main..HEAD specs/
    orchestrate diff HEAD~1 specs/run.yaml --format markdown
    """
    from orchestrator.diff import diff_specs
    from orchestrator.kinds import DiffStatus
    from orchestrator.views import color_enabled, diff_json, diff_markdown, diff_text

    diffs = [d for d in (diff_specs(*pair) for pair in _diff_inputs(args)) if d.status != DiffStatus.UNCHANGED]
    if output == "json":
        click.echo(diff_json(diffs))
    elif fmt == "markdown":
        click.echo(diff_markdown(diffs), nl=False)
    else:
        click.echo(diff_text(diffs, color=color_enabled()))
    if any(d.status == DiffStatus.INVALID for d in diffs):
        sys.exit(1)


def _diff_inputs(args: tuple[str, ...]) -> list[tuple]:
    """(old bytes, old name, new bytes, new name) per spec to compare."""
    from orchestrator import gitread

    first, rest = args[0], list(args[1:])
    if len(args) == 2 and ".." not in first and Path(first).is_file() and Path(args[1]).is_file():
        return [(Path(first).read_bytes(), first, Path(args[1]).read_bytes(), args[1])]
    cwd = Path.cwd()
    old_rev, _, after = first.partition("..")
    new_rev = after or None
    if not old_rev and new_rev is None:
        raise OrchestrateError("name two spec files, or a git revision such as HEAD~1 or main..HEAD")
    for rev in filter(None, (old_rev, new_rev)):
        if not gitread.is_revision(rev, cwd):
            raise OrchestrateError(f"{rev!r} is neither an existing file nor a git revision")
    root = gitread.repo_root(cwd)
    paths = rest or (["specs"] if (cwd / "specs").is_dir() else ["."])
    out = []
    for old_path, new_path in gitread.changed_specs(old_rev, new_rev, paths, cwd):
        old = gitread.read(old_rev, old_path, root) if old_path else None
        new = gitread.read(new_rev, new_path, root) if new_path else None
        out.append((old, old_path, new, new_path))
    return out


@cli.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    required=True,
    help="Folder for pipeline-job.yaml, model.yaml, endpoint.yaml, deployment.yaml.",
)
def render(spec: str, out_dir: str) -> None:
    """Write the resolved Azure ML entities as CLI v2 YAML files.

    Built with the real azure-ai-ml entity classes (needs the azureml extra), so each file is
    accepted by `az ml job|model|online-endpoint|online-deployment create -f FILE`.

    \b
    orchestrate render specs/phi3-ultrachat.yaml --out build/phi3
    """
    from orchestrator.render import render as render_entities
    from orchestrator.spec.validate import load_runspec

    the_spec = load_runspec(spec)
    written = render_entities(the_spec, Path(out_dir))
    for path in written:
        click.echo(str(path))


@cli.command()
@click.option("--markdown", is_flag=True, help="Print the spec reference as Markdown instead of JSON Schema.")
def schema(markdown: bool) -> None:
    """Print the JSON Schema of the run spec (Draft 2020-12).

    Point your editor at it for completion, e.g. with the yaml-language-server modeline
    `# yaml-language-server: $schema=<path>` on the first line of a spec.

    \b
    orchestrate schema > runspec.schema.json
    orchestrate schema --markdown
    """
    from orchestrator.spec.validate import schema as load_schema

    if markdown:
        from orchestrator.docs import reference_markdown

        click.echo(reference_markdown(load_schema()), nl=False)
    else:
        click.echo(json.dumps(load_schema(), indent=2))


@cli.command()
@click.argument("path", type=click.Path(dir_okay=False), required=False)
@click.option(
    "--template",
    type=click.Choice(["azureml", "local"]),
    default="azureml",
    show_default=True,
    help="azureml: Phi-3 on Azure ML; local: a small model on this machine.",
)
@click.option("--name", help="Run name (default: the file name).")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def init(path: str | None, template: str, name: str | None, force: bool) -> None:
    """Write a commented starter spec that validates and applies where it is written.

    Beside it go the JSON Schema its editor modeline points at (unless the folder is inside a
    checkout with schemas/) and, for the local template, the sample chat data it trains on
    (data/quickstart-chat/). Without PATH the spec goes to stdout.

    \b
    orchestrate init specs/my-run.yaml
    orchestrate init --template local specs/try-local.yaml && orchestrate apply specs/try-local.yaml
    """
    from orchestrator.init import starter, write

    if path is None:
        click.echo(starter(template, name=name).text, nl=False)
        return
    target = Path(path)
    if target.exists() and not force:
        raise OrchestrateError(f"{path} exists; pass --force to overwrite it")
    for written in write(starter(template, name=name, path=path), target):
        click.echo(f"wrote {written}", err=True)
    click.echo(f"next: orchestrate validate {path}", err=True)


def main() -> None:
    cli(prog_name="orchestrate")
