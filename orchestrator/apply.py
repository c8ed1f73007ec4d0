"""Execute a plan on a target, stage by stage, with events; destroy is apply in destroy mode."""

from __future__ import annotations

import time

from orchestrator.errors import OrchestrateError
from orchestrator.events import Events
from orchestrator.plan import DELETE, SKIP, Plan
from orchestrator.spec.model import RunSpec


class Interrupted(OrchestrateError):
    exit_code = 130


def get_target(spec: RunSpec):
    """The target object for a spec (kind -> class, no if/elif chains at call sites)."""
    from orchestrator.targets.local.target import LocalTarget

    targets = {"local": LocalTarget}
    if spec.target not in targets:
        raise OrchestrateError(f"apply on target {spec.target} is not available in this version; "
                               "`orchestrate render` writes the Azure ML files to create with `az ml ... create -f`")
    return targets[spec.target](spec)


def execute(target, plan: Plan, events: Events) -> dict[str, dict]:
    """Run every stage the plan does not skip, in order; return the records written."""
    done: dict[str, dict] = {}
    for stage in plan.stages:
        if stage.action == SKIP:
            events.emit("skipped", stage.name, message=f"up to date ({stage.resource})")
            continue
        events.emit("started", stage.name, action=stage.action, resource=stage.resource)
        started = time.monotonic()
        try:
            if plan.mode == "destroy" and stage.action == DELETE:
                target.destroy_stage(stage.name)
                record = {"detail": "deleted"}
            else:
                record = target.apply_stage(stage, events)
        except KeyboardInterrupt:
            raise Interrupted(f"interrupted during {stage.name}; finished stages are recorded and "
                              f"`orchestrate {'destroy' if plan.mode == 'destroy' else 'apply'}` resumes from there") from None
        except OrchestrateError as exc:
            events.emit("error", stage.name, message=str(exc))
            raise
        done[stage.name] = record
        events.emit("finished", stage.name, seconds=time.monotonic() - started, detail=record.get("detail", ""))
    return done
