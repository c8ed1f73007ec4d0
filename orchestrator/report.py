"""`orchestrate report`: what the last apply achieved, as markdown a workflow can post on the PR.

Pure: the CLI reads the target (the serving model's kept metrics and the previous model's, the
stage records) and this renders them. Every value that comes from the spec, the target or the
state is a code span (escape.markdown_code): a model or run name cannot become markup.
"""

from __future__ import annotations

from collections.abc import Mapping

from orchestrator import metrics
from orchestrator.escape import markdown_code
from orchestrator.estimate import Estimate, estimate_text
from orchestrator.records import FinetuneRecord, SmokeRecord
from orchestrator.spec.model import RunSpec


def markdown(spec: RunSpec, records: Mapping[str, dict], achieved: Mapping, estimate: Estimate) -> str:
    lines = [f"### orchestrate report: {markdown_code(spec.name)} (target {markdown_code(spec.target)})", ""]
    lines += _metrics(records, achieved) + [""] + _gate(records) + [""] + _timings(records)
    lines += ["", estimate_text(estimate), ""]
    return "\n".join(lines)


def _metrics(records: Mapping[str, dict], achieved: Mapping) -> list[str]:
    serving, previous = achieved.get("serving"), achieved.get("previous")
    if not serving:
        return ["**Fine-tune:** no deployment of this run serves, so no model to report on."]
    new, old = serving["metrics"], (previous or {}).get("metrics", {})
    if not new:
        return [f"**Fine-tune:** {markdown_code(serving['model'])} keeps no metrics (registered without them)."]
    head = f"| metric | serving {markdown_code(serving['model'], in_table=True)} |"
    rule = "|---|---|"
    if previous:
        head += f" previous {markdown_code(previous['model'], in_table=True)} | change |"
        rule += "---|---|"
    lines = ["**Fine-tune** (the serving model's figures, kept with it):", "", head, rule]
    for key in metrics.FINAL:
        if key not in new:
            continue
        row = f"| {key} | {new[key]:.4g} |"
        if previous:
            row += f" {old[key]:.4g} | {new[key] - old[key]:+.3g} |" if key in old else " - | - |"
        lines.append(row)
    curve = metrics.curve_text(FinetuneRecord.from_dict(records.get("finetune")).curves or {})
    if curve:
        lines += ["", f"Curve of the last fine-tune: {markdown_code(curve)}"]
    return lines


def _gate(records: Mapping[str, dict]) -> list[str]:
    smoke = SmokeRecord.from_dict(records.get("smoke_test"))
    scores = smoke.scores or {}
    if scores.get("candidate") is None:
        return ["**Gate:** no evaluation recorded."]
    text = f"{scores['metric']} of {markdown_code(smoke.deployment or 'the candidate')}"
    text += f" {scores['candidate']:.1f} on {scores['samples']} conversations"
    if scores.get("serving") is not None:
        text += f", serving {markdown_code(scores.get('serving_deployment', ''))} {scores['serving']:.1f}"
    return [f"**Gate:** {text}: {markdown_code(scores.get('verdict', ''))}."]


ORDER = ("data", "model", "compute", "finetune", "register", "endpoint", "deployment", "smoke_test", "traffic")


def _timings(records: Mapping[str, dict]) -> list[str]:
    names = sorted(records, key=lambda n: ORDER.index(n) if n in ORDER else len(ORDER))
    timed = [(n, records[n]["seconds"]) for n in names if isinstance(records[n].get("seconds"), int | float)]
    if not timed:
        return ["**Timings:** none recorded."]
    return ["**Timings:** " + ", ".join(f"{name} {_duration(s)}" for name, s in timed) + "."]


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.1f} s"
