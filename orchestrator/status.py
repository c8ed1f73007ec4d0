"""What `status` reports: one row per stage, computed from the plan and what the target saw.

Pure: the CLI gathers the inputs (the target's observation and records, the scoring URI) and a
view renders the rows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass

from orchestrator.kinds import Action
from orchestrator.plan import Observed, Plan
from orchestrator.records import SmokeRecord
from orchestrator.spec.model import RunSpec


@dataclass(frozen=True)
class StatusRow:
    stage: str
    resource: str
    state: str  # present | absent
    drift: str  # why the spec and the target differ, when they do
    detail: str  # what the target saw (a job's status, a pinned version), else what apply recorded
    scoring_uri: str = ""

    def to_dict(self) -> dict:
        data = asdict(self)
        if not self.scoring_uri:
            del data["scoring_uri"]
        return data


def status_rows(
    plan: Plan,
    observed: Mapping[str, Observed | None],
    records: Mapping[str, dict],
    scoring_uri: Callable[[], str],
) -> list[StatusRow]:
    """`scoring_uri` is asked only when the deployment exists (it may cost the target a call)."""
    rows = []
    for stage in plan.stages:
        seen = observed.get(stage.name)
        present = seen is not None and seen.exists
        drift = "" if stage.action == Action.SKIP or not present else stage.reason
        detail = (seen.detail or seen.note) if seen is not None else ""
        rows.append(
            StatusRow(
                stage.name,
                stage.resource,
                "present" if present else "absent",
                drift,
                detail or records.get(stage.name, {}).get("detail", ""),
                scoring_uri() if stage.name == "deployment" and present else "",
            )
        )
    return rows


def deployment_rows(served: list, records: Mapping[str, dict]) -> list[dict]:
    """Every deployment behind the endpoint: traffic, mirror, model, whether this run made it, and
    the gate scores recorded when it was rolled out (the smoke test's evaluation)."""
    smoke = SmokeRecord.from_dict(records.get("smoke_test"))
    rows = []
    for s in served:
        row = {**asdict(s)}
        if smoke.deployment == s.name and smoke.scores:
            row["scores"] = smoke.scores
        rows.append(row)
    return rows


def model_metrics(served: list, read: Callable[[str], dict]) -> dict:
    """What the serving model's fine-tune achieved, and the one registered before it (kept with
    each registered model: `read(name:version)`): {"serving": {model, metrics}, "previous": ...}."""
    from orchestrator import metrics
    from orchestrator.rollout import serving

    current = serving(served, "")
    if current is None or not current.model:
        return {}
    name, version = metrics.split_ref(current.model)
    out = {"serving": {"model": f"{name}:{version}", "metrics": read(f"{name}:{version}")}}
    if version.isdigit():
        for older in range(int(version) - 1, max(0, int(version) - 6), -1):
            found = read(f"{name}:{older}")
            if found:
                out["previous"] = {"model": f"{name}:{older}", "metrics": found}
                break
    return out


@dataclass(frozen=True)
class Status:
    """What `status` (and `report`) read of one run: its rows, its deployments, the pre-flight,
    the serving model's metrics and the records its stages saved."""

    spec: RunSpec
    stages: list[StatusRow]
    deployments: list[dict]
    checks: tuple
    achieved: dict
    records: Mapping[str, dict]
