"""The command-line options several commands share, declared once (cli and cli_run use them)."""

from __future__ import annotations

import click

from orchestrator import registry

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
    type=click.Choice(registry.credentials()),
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


def format_option(other: str, what: str):
    """`--format text|<other>`: how the text output is laid out (validate: github, diff: markdown)."""
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(["text", other]),
        default="text",
        show_default=True,
        help=f"{other}: {what}",
    )


LOCKED = click.option(
    "--locked",
    is_flag=True,
    help="Fail when the lock file beside a spec is missing or would change (CI: run what was committed).",
)
YES = click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation (needed without a terminal).")
FAIL_FAST = click.option(
    "--fail-fast", is_flag=True, help="With several specs: a failed run keeps the runs not started yet from starting."
)


def _parallel(default: int, what: str):
    help_text = f"With several specs: {what}."
    return click.option("--parallel", type=click.IntRange(min=1), default=default, show_default=True, help=help_text)


PARALLEL = _parallel(4, "how many runs apply at once (local runs take turns)")
# Reading is cheap and latency-bound (each Azure read is a round trip): more runs at once.
PARALLEL_READS = _parallel(16, "how many runs are read at once")
