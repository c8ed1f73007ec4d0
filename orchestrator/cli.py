"""The `orchestrate` command line: each command parses options, calls the core and renders.

Exit codes: 0 success; 1 error or invalid spec; 2 usage error (or, with `plan
--detailed-exitcode`, changes pending); 130 interrupted.
"""

from __future__ import annotations

import errno
import json
import os
import sys
from pathlib import Path

import click

from orchestrator import __version__, cli_run, registry
from orchestrator.cli_options import CREDENTIAL, LOCKED, OUTPUT, PARALLEL_READS, PRICES, THROUGHPUT, format_option
from orchestrator.errors import OrchestrateError, SpecError
from orchestrator.init import templates


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
        except OSError as exc:
            # The machine, not the code: a full disk or a quota (writes outside atomic_write, such as
            # the data splits or a library's cache). Anything else is a bug and keeps its traceback.
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS) or os.environ.get(
                "ORCHESTRATE_DEBUG"
            ):
                raise
            click.echo(f"error: {exc.strerror}{f': {exc.filename}' if exc.filename else ''}", err=True)
            ctx.exit(1)


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


@cli.command()
@click.argument("specs", nargs=-1, required=True, metavar="SPEC...")
@OUTPUT
@format_option("github", "print ::error annotations that GitHub Actions shows on the pull request.")
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
    orchestrate validate specs/phi4-ultrachat.yaml
    orchestrate validate specs/ --format github --no-env
    orchestrate validate specs/run.yaml -o json
    """
    from orchestrator.runs import expand
    from orchestrator.spec.validate import check_file
    from orchestrator.views.commands import validate_view

    results = [check_file(path, build=False, interpolate=not no_env) for path in expand(specs)]
    validate_view(output, fmt).results(results)
    sys.exit(0 if all(r.ok for r in results) else 1)


@cli.command()
@click.argument("specs", nargs=-1, required=True, metavar="SPEC...")
@OUTPUT
@click.option(
    "--out",
    "out_file",
    type=click.Path(dir_okay=False, writable=True),
    help="Also save the plan as JSON to this file (one spec only).",
)
@click.option(
    "--detailed-exitcode", is_flag=True, help="Exit 0 when nothing would change, 2 when something would, 1 on error."
)
@click.option(
    "--offline",
    is_flag=True,
    help="Do not read the target (no Azure calls, no credentials): every stage shows as to create.",
)
@PARALLEL_READS
@LOCKED
@CREDENTIAL
@PRICES
@THROUGHPUT
def plan(specs: tuple[str, ...], output: str, out_file: str | None, **given) -> None:
    """Show the ordered stages, their resource names and fingerprints, and what apply would do.

    Names are derived from the run name (no timestamps); a fingerprint is the hash of the inputs
    that decide a stage, so a spec change shows exactly which stages rerun. The target is read
    (on azureml: read-only Azure calls, tags on every resource) to say what exists; --offline
    skips that, e.g. in CI without credentials. Moving references (model version latest, the
    pipeline component, a Hub dataset's revision) are planned at the versions of the lock file
    beside the spec; a newer version is named, not taken (`orchestrate lock --upgrade`).

    Then the pre-flight, the read-only checks apply makes before anything bills: the base model's
    lifecycle (archived, retired, retiring within 90 days), its allow lists, VM series, quota, the
    cluster, the endpoint and its traffic split. Each verdict is shown (ok, warn, ?? undecided,
    FAIL); a failed one exits 1, and apply would refuse it.

    Several specs, or a directory, are read together (--parallel at once) and summed up in one
    table; the exit code is the worst of them.

    \b
    orchestrate plan specs/phi4-ultrachat.yaml
    orchestrate plan specs/phi4-ultrachat.yaml --offline -o json --out plan.json
    orchestrate plan specs/ --detailed-exitcode
    """
    from orchestrator import commands, runs
    from orchestrator.options import Options
    from orchestrator.views.commands import plan_view

    paths = [str(p) for p in runs.expand(specs)]
    if len(paths) > 1 and out_file:
        raise click.UsageError("--out saves one plan: name one spec")
    sys.exit(commands.plan(paths, Options.of(given), plan_view(output), out_file))


@cli.command()
@click.argument("args", nargs=-1, required=True, metavar="OLD NEW | REV[..REV] [PATH...]")
@OUTPUT
@format_option("markdown", "a pull-request comment.")
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
    from orchestrator.views.commands import diff_view

    diffs = [d for d in (diff_specs(*pair) for pair in _diff_inputs(args)) if d.status != DiffStatus.UNCHANGED]
    diff_view(output, fmt).diffs(diffs)
    if any(d.status == DiffStatus.INVALID for d in diffs):
        sys.exit(1)


def _lock_of(spec_path: str) -> str:
    return str(Path(spec_path).with_suffix(".lock"))


def _diff_inputs(args: tuple[str, ...]) -> list[tuple]:
    """(old bytes, old name, new bytes, new name, old lock, new lock) per spec to compare."""
    from orchestrator import gitread

    first, rest = args[0], list(args[1:])
    if len(args) == 2 and ".." not in first and Path(first).is_file() and Path(args[1]).is_file():
        old_lock, new_lock = (Path(p).with_suffix(".lock") for p in args)
        return [
            (
                Path(first).read_bytes(),
                first,
                Path(args[1]).read_bytes(),
                args[1],
                old_lock.read_bytes() if old_lock.is_file() else None,
                new_lock.read_bytes() if new_lock.is_file() else None,
            )
        ]
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
        old = gitread.read_optional(old_rev, old_path, root) if old_path else None
        new = gitread.read_optional(new_rev, new_path, root) if new_path else None
        if old is None and new is None:
            continue  # a lock file without its spec
        locks = (
            gitread.read_optional(old_rev, _lock_of(old_path), root) if old_path else None,
            gitread.read_optional(new_rev, _lock_of(new_path), root) if new_path else None,
        )
        out.append((old, old_path if old is not None else None, new, new_path if new is not None else None, *locks))
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
    orchestrate render specs/phi4-ultrachat.yaml --out build/phi4
    """
    from orchestrator import lockfile
    from orchestrator.spec.validate import load_runspec

    the_spec = lockfile.locked(load_runspec(spec))
    render_files = registry.info(the_spec.target).render
    if render_files is None:
        raise OrchestrateError(
            f"render writes Azure ML CLI v2 files; {the_spec.source_path} has target {the_spec.target}"
        )
    written = render_files(the_spec, Path(out_dir))
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
    from orchestrator.spec.schema import schema as load_schema

    if markdown:
        from orchestrator.docs import reference_markdown

        click.echo(reference_markdown(load_schema()), nl=False)
    else:
        click.echo(json.dumps(load_schema(), indent=2))


@cli.command()
@click.argument("path", type=click.Path(dir_okay=False), required=False)
@click.option(
    "--template",
    type=click.Choice(templates()),
    default=registry.DEFAULT,
    show_default=True,
    help="azureml: Phi-4 on Azure ML; local: a small model on this machine.",
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


# apply, destroy, status, report, lock and invoke: the commands that act on a target.
for _command in cli_run.COMMANDS:
    cli.add_command(_command)


def main() -> None:
    cli(prog_name="orchestrate")
