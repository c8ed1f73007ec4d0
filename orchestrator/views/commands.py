"""One view per command, chosen once from `--output` (Terraform's `views.NewPlan(viewType)` in
internal/command/views/plan.go): a command asks for its view and calls it, and the view is the
only place that knows text from JSON. Each command has a human and a JSON implementation.

A view holds the streams it writes to, taken when it is made, at the start of the command.
Documents (a plan, a status, a diff) go to stdout; errors, questions and the closing line to
stderr. The JSON views print one shape per document: a plan is `plan_document` (with its
estimate) for one spec, for each run of a directory, in a saved plan and in apply's `plan`
event.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

import click

from orchestrator.errors import OrchestrateError
from orchestrator.events import Events
from orchestrator.kinds import PlanMode
from orchestrator.records import SmokeRecord
from orchestrator.views import (
    color_enabled,
    diagnostics_json,
    diagnostics_text,
    diff_json,
    diff_markdown,
    diff_text,
    plan_document,
    plan_text,
    status_document,
    status_text,
    summary_text,
)

if TYPE_CHECKING:
    from orchestrator.runs import Run
    from orchestrator.status import Status


class _View:
    def __init__(self, out: TextIO | None = None, err: TextIO | None = None):
        self.out = out or sys.stdout
        self.err = err or sys.stderr

    def show(self, text: str, *, nl: bool = True) -> None:
        click.echo(text, file=self.out, nl=nl)

    def say(self, text: str) -> None:
        """A line for the person at the terminal, whatever the output: on stderr."""
        click.echo(text, file=self.err)

    def failed(self, path: str, error: str) -> None:
        self.say(f"error: {path}: {error}")


def _chosen(output: str, human: type, machine: type, *args):
    return (machine if output == "json" else human)(*args)


# validate


class ValidateHuman(_View):
    def results(self, results: Sequence) -> None:
        color = color_enabled(self.err)
        for result in results:
            if result.diagnostics:
                self.say(diagnostics_text(result.diagnostics, color=color))
            if result.ok:
                self.show(f"{result.path}: valid")


class ValidateGitHub(_View):
    def results(self, results: Sequence) -> None:
        for result in results:
            for diag in result.diagnostics:
                self.show(diag.format_github())


class ValidateJSON(_View):
    def results(self, results: Sequence) -> None:
        self.show(diagnostics_json(results))


def validate_view(output: str, fmt: str) -> ValidateHuman | ValidateGitHub | ValidateJSON:
    return _chosen(output, ValidateGitHub if fmt == "github" else ValidateHuman, ValidateJSON)


# plan


class PlanHuman(_View):
    def plan(self, run: Run) -> None:
        self.show(self._text(run))

    def plans(self, runs: Sequence[Run]) -> None:
        for r in runs:
            if r.plan is not None:
                self.show(f"{self._text(r)}\n")
            else:
                self.failed(r.path, f"{r.error}\n")
        self.show(summary_text(runs, "Plans"))

    def _text(self, run: Run) -> str:
        from orchestrator.estimate import estimate_text

        assert run.plan is not None
        return f"{plan_text(run.plan, color=color_enabled(self.out))}\n{estimate_text(run.estimate)}"


class PlanJSON(_View):
    def plan(self, run: Run) -> None:
        assert run.plan is not None
        self.show(json.dumps(plan_document(run.plan, run.estimate), indent=2))

    def plans(self, runs: Sequence[Run]) -> None:
        items = [
            {
                "spec": r.path,
                "run": r.name,
                "plan": plan_document(r.plan, r.estimate) if r.plan else None,
                "error": r.error,
            }
            for r in runs
        ]
        self.show(json.dumps({"runs": items}, indent=2))


def plan_view(output: str) -> PlanHuman | PlanJSON:
    return _chosen(output, PlanHuman, PlanJSON)


# apply and destroy


class ApplyHuman(_View):
    """apply and destroy: the plan, the question, the progress of the stages, the outcome."""

    events_mode = "text"  # Events: lines on stderr (the JSON view: NDJSON on stdout)

    def __init__(self, verb: str, out: TextIO | None = None, err: TextIO | None = None):
        super().__init__(out, err)
        self.verb = verb

    def plan(self, run: Run) -> None:
        """A run's plan before anything runs; with several runs, one after another."""
        assert run.plan is not None
        self.show(plan_text(run.plan, color=color_enabled(self.out)) + ("\n" if run.many else ""))

    def confirm(self, question: str, yes: bool) -> None:
        if yes:
            return
        if not sys.stdin.isatty():
            raise OrchestrateError("refusing to act without confirmation: no terminal to ask on; pass -y/--yes")
        if not click.confirm(question, default=False, err=True):
            raise OrchestrateError("cancelled; nothing was changed")

    def events(self, run: Run) -> Events:
        return Events(self.events_mode, self.err, run=run.name, many=run.many, out=self.out)

    def done(self, run: Run, records: dict[str, Any]) -> None:
        """The outcome of one spec's apply: the smoke test's answer, then the counts."""
        assert run.plan is not None
        smoke = SmokeRecord.from_dict(records.get("smoke_test"))
        if run.plan.mode == PlanMode.APPLY and smoke.status is not None:
            self.answered(smoke)
        self.say(f"{self.verb} complete: {run.plan.summary()}")

    def answered(self, smoke: SmokeRecord) -> None:
        self.show(f"smoke test: HTTP {smoke.status} in {smoke.latency_ms or 0:.0f} ms")
        self.show(f"answer: {smoke.answer}")

    def summary(self, runs: Sequence[Run]) -> None:
        self.say(summary_text(runs, self.verb))


class ApplyJSON(ApplyHuman):
    events_mode = "json"

    def answered(self, smoke: SmokeRecord) -> None:
        """Nothing more: the smoke test's answer is in the NDJSON events already."""

    def plan(self, run: Run) -> None:
        assert run.plan is not None
        event: dict[str, Any] = {"event": "plan", "run": run.name} if run.many else {"event": "plan"}
        self.show(json.dumps({**event, "plan": plan_document(run.plan, run.estimate)}))

    def summary(self, runs: Sequence[Run]) -> None:
        rows = [{"run": r.name, "spec": r.path, "error": r.error, "exit_code": r.exit_code} for r in runs]
        self.show(json.dumps({"event": "summary", "runs": rows}))


def apply_view(output: str, verb: str) -> ApplyHuman:
    return _chosen(output, ApplyHuman, ApplyJSON, verb)


# diff


class DiffHuman(_View):
    def diffs(self, diffs: list) -> None:
        self.show(diff_text(diffs, color=color_enabled(self.out)))


class DiffMarkdown(_View):
    def diffs(self, diffs: list) -> None:
        self.show(diff_markdown(diffs), nl=False)


class DiffJSON(_View):
    def diffs(self, diffs: list) -> None:
        self.show(diff_json(diffs))


def diff_view(output: str, fmt: str) -> DiffHuman | DiffMarkdown | DiffJSON:
    return _chosen(output, DiffMarkdown if fmt == "markdown" else DiffHuman, DiffJSON)


# status


class StatusHuman(_View):
    def status(self, status: Status) -> None:
        self.show(status_text(status))

    def statuses(self, results: Sequence[tuple[str, Status | None, Exception | None]]) -> None:
        for path, status, error in results:
            if status is None:
                self.failed(path, str(error))
            else:
                self.show(f"{status.spec.name} ({path})\n{status_text(status)}\n")


class StatusJSON(_View):
    def status(self, status: Status) -> None:
        self.show(json.dumps(status_document(status), indent=2))

    def statuses(self, results: Sequence[tuple[str, Status | None, Exception | None]]) -> None:
        shown = []  # one document, {"runs": [each run's status, or its error]}
        for path, status, error in results:
            if status is None:
                self.failed(path, str(error))
                shown.append({"spec": path, "error": str(error)})
            else:
                shown.append({"spec": path, **status_document(status)})
        self.show(json.dumps({"runs": shown}, indent=2))


def status_view(output: str) -> StatusHuman | StatusJSON:
    return _chosen(output, StatusHuman, StatusJSON)
