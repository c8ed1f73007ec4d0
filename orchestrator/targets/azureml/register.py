"""The fine-tuned model, registered from the job's output; its version is the stage fingerprint."""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestrator.events import Events
from orchestrator.plan import Observed, PlannedStage
from orchestrator.stages.base import short
from orchestrator.target import Ready, StageHandler
from orchestrator.targets.azureml import entities
from orchestrator.targets.azureml.entities import is_ours

if TYPE_CHECKING:
    from orchestrator.targets.azureml.target import AzureMLTarget


def observe(t: AzureMLTarget, fingerprint: str, cached: dict) -> Observed:
    # A list, not a get: it leaves out versions archived by destroy.
    versions = t.find("list the registered model's versions", lambda: list(t.ml.models.list(name=t.spec.register_name)))
    model = next((m for m in versions or [] if str(m.version) == short(fingerprint)), None)
    if model is not None:
        return t.observed(True, fingerprint, cached, f"{model.name} version {model.version}")
    if cached.get("version") and cached.get("fingerprint") != fingerprint:
        return t.observed(True, cached["fingerprint"], cached)
    return Observed(False)


def apply(t: AzureMLTarget, planned: PlannedStage, events: Events, ready: Ready) -> dict:
    job = t.current("finetune", "job") or t.seen.job.name
    version = short(planned.fingerprint)
    existing = t.find("read the registered model", t.ml.models.get, t.spec.register_name, version=version)
    if existing is None:
        t.azure(
            f"register {t.spec.register_name}:{version}",
            t.ml.models.create_or_update,
            entities.model(t.spec, t.prints, job=job),
        )
    return {
        "name": t.spec.register_name,
        "version": version,
        "job": job,
        "detail": f"{t.spec.register_name} version {version} from job {job}",
    }


def archive(t: AzureMLTarget, entry: dict) -> None:
    version = entry.get("version") or short(t.prints["register"])
    model = t.find("read the registered model", t.ml.models.get, t.spec.register_name, version=version)
    if model is not None and is_ours(model, t.spec):
        t.azure(f"archive {t.spec.register_name}:{version}", t.ml.models.archive, t.spec.register_name, version=version)


HANDLER: StageHandler[AzureMLTarget] = StageHandler(observe, apply, archive)
