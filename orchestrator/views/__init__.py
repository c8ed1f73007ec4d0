"""Renderers: the same values (diagnostics, plans) as terminal text, JSON or GitHub annotations.

Nothing is computed here; every function takes a finished value and returns text (or the JSON
document). Which of them a command prints is its view's choice: views/commands.py.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

import click

from orchestrator.errors import Diagnostic
from orchestrator.kinds import Action, DiffStatus, PlanMode

if TYPE_CHECKING:
    from orchestrator.plan import Plan
    from orchestrator.runs import Run
    from orchestrator.status import Status

_SYMBOLS = {Action.CREATE: "+", Action.UPDATE: "~", Action.REPLACE: "-/+", Action.DELETE: "-", Action.SKIP: "="}
_COLORS = {
    Action.CREATE: "green",
    Action.UPDATE: "yellow",
    Action.REPLACE: "magenta",
    Action.DELETE: "red",
    Action.SKIP: None,
}


def color_enabled(stream=None) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    stream = stream or sys.stdout
    return hasattr(stream, "isatty") and stream.isatty()


def paint(text: str, color: str | None, *, enabled: bool, bold: bool = False) -> str:
    if not enabled or (color is None and not bold):
        return text
    return click.style(text, fg=color, bold=bold)


def diagnostics_text(diags: Iterable[Diagnostic], *, color: bool = False) -> str:
    lines = []
    for d in diags:
        line = d.format()
        if color:
            word = f"{d.severity}:"
            line = line.replace(
                word, paint(word, "red" if d.severity == "error" else "yellow", enabled=True, bold=True), 1
            )
        lines.append(line)
    return "\n".join(lines)


def diagnostics_json(results: Sequence) -> str:
    """`validate --output json`: one object per spec, the same diagnostics as the text form."""
    return json.dumps(
        {
            "specs": [
                {"path": r.path, "valid": r.ok, "diagnostics": [d.to_dict() for d in r.diagnostics]} for r in results
            ]
        },
        indent=2,
    )


def plan_text(plan: Plan, *, color: bool = False) -> str:
    title = "Destroy plan" if plan.mode == PlanMode.DESTROY else "Plan"
    header = f"{title} for {plan.run} (target {plan.target}, {plan.spec_path})"
    rows = [("", "stage", "action", "resource", "fingerprint", "reason")]
    for s in plan.stages:
        rows.append((_SYMBOLS[Action(s.action)], s.name, s.action, s.resource, s.fingerprint[:12], s.reason))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = [paint(header, None, enabled=color, bold=True), ""]
    for i, row in enumerate(rows):
        cells = [row[j].ljust(widths[j]) for j in range(5)] + [row[5]]
        text = "  " + "  ".join(cells).rstrip()
        if i == 0:
            text = paint(text, None, enabled=color, bold=True)
        else:
            text = paint(text, _COLORS[Action(plan.stages[i - 1].action)], enabled=color)
        lines.append(text)
    lines.append("")
    if plan.settings:
        lines.extend(settings_text(plan.settings))
        lines.append("")
    if plan.pins and plan.mode != PlanMode.DESTROY:
        pinned = ", ".join(f"{kind} {version}" for kind, version in sorted(plan.pins.items()))
        lines.extend([f"Pinned: {pinned}", ""])
    for notice in plan.notices:
        lines.append(paint(f"Note: {notice}", "yellow", enabled=color))
    if plan.notices:
        lines.append("")
    if plan.checks:
        lines.extend(["Pre-flight (read-only, before anything bills):", *checks_text(plan.checks, color=color), ""])
    if not plan.observed:
        lines.append("No target state was read: every stage shows as to create.")
    lines.append(paint(f"{title}: {plan.summary()}", None, enabled=color, bold=True))
    return "\n".join(lines)


_CHECK_MARKS = {
    "ok": ("ok", "green"),
    "warn": ("warn", "yellow"),
    "undecided": ("??", "yellow"),
    "fail": ("FAIL", "red"),
}


def checks_text(checks, *, color: bool = False, only_notable: bool = False) -> list[str]:
    """One line per pre-flight check: `  ok    quota: ...`, `  FAIL  model lifecycle: ...`."""
    lines = []
    for c in checks:
        if only_notable and c.verdict == "ok":
            continue
        mark, tint = _CHECK_MARKS[str(c.verdict)]
        lines.append(paint(f"  {mark:<5} {c.name}: {c.message}", tint if c.verdict != "ok" else None, enabled=color))
    return lines


def settings_text(settings) -> list[str]:
    """`finetune: epochs 1 (spec), learning_rate 7e-06 (model default), ...`, wrapped."""
    import textwrap

    def shown(value) -> str:
        return str(value).lower() if isinstance(value, bool) else str(value)

    text = ", ".join(f"{s.field} {shown(s.value)} ({s.source})" for s in settings)
    return textwrap.wrap("Fine-tune settings: " + text, width=100, subsequent_indent="  ")


def plan_document(plan: Plan, estimate) -> dict:
    """A plan as JSON: the same shape for one spec, a directory's each run, a saved plan file and
    apply's `plan` event. The estimate is null for a destroy plan."""
    return {**plan.to_dict(), "estimate": estimate.to_dict() if estimate is not None else None}


def show_value(value) -> str:
    """A spec value as a reviewer reads it: 5e-6 not 5e-06, true not True, lists as JSON."""
    import re

    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, float):
        return re.sub(r"e([-+])0*(\d)", r"e\1\2", format(value, "g")).replace("e+", "e")
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(", ", ": "))
    return str(value)


def diff_text(diffs: list, *, color: bool = False) -> str:
    if not diffs:
        return "No spec changed."
    lines = []
    for d in diffs:
        renamed = f" (from {d.old_name})" if d.status == DiffStatus.RENAMED else ""
        lines.append(paint(f"{d.name}: {d.status}{renamed}", None, enabled=color, bold=True))
        for diag in d.diagnostics:
            lines.append("  " + diag.format())
        if d.status in (DiffStatus.ADDED, DiffStatus.REMOVED):
            verb = "creates" if d.status == DiffStatus.ADDED else "leaves (until destroy)"
            lines.append(f"  {verb}: {', '.join(d.reruns)}")
        for c in d.changes:
            reruns = f"reruns {', '.join(c.reruns)}" if c.reruns else "reruns nothing"
            row = f"  ~ {c.path} {show_value(c.old)} -> {show_value(c.new)}: {reruns}"
            lines.append(paint(row, "yellow", enabled=color))
        if d.changes:
            lines.append(f"  stages to rerun: {', '.join(d.reruns) if d.reruns else 'none'}")
        if d.rollout:
            lines.append(f"  rollout: {d.rollout}")
        if d.estimate_changed:
            lines.append(f"  compute: {estimate_change(d.estimate_before, d.estimate_after)}")
        lines.append("")
    return "\n".join(lines).rstrip()


def estimate_change(before, after) -> str:
    """`fine-tune ~2.4 -> ~4.8 GPU-hours; endpoint 24 -> 48 instance-hours/day` (estimates)."""

    def hours(value):
        return "?" if value is None else f"~{value:.1f}"

    parts = []
    if before.finetune_gpu_hours != after.finetune_gpu_hours:
        parts.append(f"fine-tune {hours(before.finetune_gpu_hours)} -> {hours(after.finetune_gpu_hours)} GPU-hours")
    if before.endpoint_instance_hours_per_day != after.endpoint_instance_hours_per_day:
        parts.append(
            f"endpoint {before.endpoint_instance_hours_per_day:g} -> "
            f"{after.endpoint_instance_hours_per_day:g} instance-hours/day"
        )
    return "; ".join(parts) + " (estimate)"


def diff_markdown(diffs: list) -> str:
    import jinja2

    from orchestrator.escape import markdown_code
    from orchestrator.resources import TEMPLATES_DIR

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        keep_trailing_newline=True,
        trim_blocks=False,
        lstrip_blocks=False,
        undefined=jinja2.StrictUndefined,
    )
    # Every value from a spec or a file name goes through `code` (or `cell` in a table): the
    # comment is posted on a pull request, and a value must not render as Markdown or HTML.
    env.filters["show"] = show_value
    env.filters["code"] = markdown_code
    env.filters["cell"] = lambda text: markdown_code(text, in_table=True)
    env.globals["estimate_change"] = estimate_change
    return env.get_template("diff.md.j2").render(diffs=diffs)


def diff_json(diffs: list) -> str:
    return json.dumps({"format_version": 1, "specs": [d.to_dict() for d in diffs]}, indent=2, default=str)


def status_text(status: Status) -> str:
    """`status` of one run: each stage, the deployments behind the endpoint, the metrics, the
    pre-flight's notable checks."""
    lines = []
    for row in status.stages:
        extra = f"  drift: {row.drift}" if row.drift else (f"  ({row.detail})" if row.detail else "")
        lines.append(f"{row.stage:<11} {row.state:<8} {row.resource}{extra}")
        if row.scoring_uri:
            lines.append(f"{'':<20} scoring URI {row.scoring_uri}")
    if status.deployments:
        lines.append("deployments behind the endpoint:")
    for d in status.deployments:
        who = "" if d["ours"] else "  (not made by this run)"
        mirror = f", mirror {d['mirror']}%" if d["mirror"] else ""
        scores = d.get("scores") or {}
        gate = f"  {scores['metric']} {scores['candidate']:.1f}" if scores.get("candidate") is not None else ""
        lines.append(f"  {d['name']:<24} {d['traffic']:>3}%{mirror}  {d['state']:<9} {d['model']}{gate}{who}")
    lines.extend(metrics_text(status.achieved))
    notable = checks_text(status.checks, only_notable=True)
    if notable:
        lines.extend(["pre-flight:", *notable])
    return "\n".join(lines)


def metrics_text(achieved: Mapping) -> list[str]:
    """The serving model's fine-tune metrics, and the previous model's with the change."""
    from orchestrator import metrics

    serving, previous = achieved.get("serving"), achieved.get("previous")
    if not serving:
        return []
    lines = ["fine-tune metrics:"]
    if not serving["metrics"]:
        shown = "none kept with the model"
    elif previous:
        shown = metrics.against(serving["metrics"], previous["metrics"], label="previous")
    else:
        shown = metrics.line(serving["metrics"])
    lines.append(f"  serving  {serving['model']:<24} {shown}")
    if previous:
        lines.append(f"  previous {previous['model']:<24} {metrics.line(previous['metrics'])}")
    return lines


def status_document(status: Status) -> dict:
    """`status -o json` of one run (a directory's: {"runs": [these, with "spec"]})."""
    return {
        "run": status.spec.name,
        "target": status.spec.target,
        "stages": [r.to_dict() for r in status.stages],
        "deployments": list(status.deployments),
        "checks": [c.to_dict() for c in status.checks],
        "metrics": dict(status.achieved),
    }


def summary_text(runs: Sequence[Run], title: str) -> str:
    """One line per run: its counts (or its error), then the totals. For plan and apply of many."""
    rows = [("run", "spec", "result")]
    for run in runs:
        if run.error:
            result = f"FAILED: {run.error.splitlines()[0]}"
        elif run.plan is None:
            result = "not planned"
        else:
            result = run.plan.summary()
        rows.append((run.name or "?", run.path, result))
    width = [max(len(r[i]) for r in rows) for i in range(2)]
    lines = [f"{title} of {len(runs)} specs:"]
    lines += ["  " + "  ".join([r[0].ljust(width[0]), r[1].ljust(width[1]), r[2]]) for r in rows]
    failed = sum(1 for r in runs if r.error)
    lines.append(f"{len(runs) - failed} ok, {failed} failed.")
    return "\n".join(lines)
