"""Execute a plan on a target, stage by stage, with events; destroy is apply in destroy mode."""

from __future__ import annotations

import time

from orchestrator.errors import OrchestrateError
from orchestrator.events import Events
from orchestrator.kinds import PlanMode
from orchestrator.plan import DELETE, SKIP, Plan
from orchestrator.spec.model import RunSpec


class Interrupted(OrchestrateError):
    exit_code = 130


def get_target(spec: RunSpec, credential: str | None = None):
    """The target object for a spec; only the chosen target's module (and SDK) is imported."""
    if spec.target == "azureml":
        from orchestrator.targets.azureml.target import AzureMLTarget

        return AzureMLTarget(spec, credential=credential)
    from orchestrator.targets.local.target import LocalTarget

    return LocalTarget(spec)


def read_saved_plan(path: str) -> dict:
    """A plan saved by `plan --out`, checked to be one."""
    import json
    from pathlib import Path

    from orchestrator.plan import FORMAT_VERSION

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise OrchestrateError(f"{path}: file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise OrchestrateError(
            f"{path} is not a saved plan (not JSON); pass a spec .yaml or a `plan --out` file"
        ) from None
    if not isinstance(data, dict) or data.get("format_version") != FORMAT_VERSION or "stages" not in data:
        raise OrchestrateError(
            f"{path} is not a plan saved by this version of orchestrate (format_version {FORMAT_VERSION})"
        )
    if data.get("mode") != PlanMode.APPLY:
        raise OrchestrateError(f"{path} is a {data.get('mode')} plan; apply takes apply plans")
    return data


def check_saved_plan(saved: dict, fresh: Plan) -> None:
    """Refuse a saved plan whose spec or observed state no longer matches (dstack/Terraform habit)."""
    if saved["spec_digest"] != fresh.spec_digest:
        raise OrchestrateError(f"{saved['spec_path']} changed since the plan was saved; run `orchestrate plan` again")
    if not fresh.observed or saved.get("observed_digest") != fresh.observed_digest:
        raise OrchestrateError("the target's state changed since the plan was saved; run `orchestrate plan` again")
    planned = [(s["name"], s["action"], s["fingerprint"]) for s in saved["stages"]]
    if planned != [(s.name, s.action, s.fingerprint) for s in fresh.stages]:
        raise OrchestrateError(
            "the saved plan's stages differ from what apply would do now; run `orchestrate plan` again"
        )


def execute(target, plan: Plan, events: Events) -> dict[str, dict]:
    """Run every stage the plan does not skip, in order; return the records written."""
    try:
        return _execute(target, plan, events)
    finally:
        events.close()  # a live display gives the terminal back, whatever happened


def _execute(target, plan: Plan, events: Events) -> dict[str, dict]:
    done: dict[str, dict] = {}
    target.begin(plan)
    for stage in plan.stages:
        if stage.action == SKIP:
            events.emit("skipped", stage.name, message=f"up to date ({stage.resource})")
            continue
        events.emit("started", stage.name, action=stage.action, resource=stage.resource)
        started = time.monotonic()
        try:
            if plan.mode == PlanMode.DESTROY and stage.action == DELETE:
                target.destroy_stage(stage.name)
                record = {"detail": "deleted"}
            else:
                record = target.apply_stage(stage, events)
        except KeyboardInterrupt:
            running = target.left_running(stage.name)
            raise Interrupted(
                f"interrupted during {stage.name}{'; ' + running if running else ''}; finished stages are "
                f"recorded and `orchestrate {'destroy' if plan.mode == 'destroy' else 'apply'}` resumes "
                "from there"
            ) from None
        except OrchestrateError as exc:
            events.emit("error", stage.name, message=str(exc))
            target.settle(events)  # what runs alongside finishes and is recorded before we stop
            raise
        done[stage.name] = record
        events.emit("finished", stage.name, seconds=time.monotonic() - started, detail=record.get("detail", ""))
    return done
