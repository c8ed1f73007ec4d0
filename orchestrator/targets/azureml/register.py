"""The fine-tuned model, registered from the job's output.

Workspace model versions are positive integers (the CLI v2 model YAML types `version` as an int;
azureml-examples #2725; the seed notebook uses a timestamp "to avoid version conflict"), so the
version cannot be the fingerprint: the fingerprint is a tag, the version the next free integer.
A re-apply finds the version by its tag (no call that changes anything); a killed register finds
what it created the same way; a version `destroy` archived is restored, not registered twice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestrator.events import Events
from orchestrator.plan import Observed, PlannedStage
from orchestrator.records import FinetuneRecord, RegisterRecord
from orchestrator.target import Ready, StageHandler
from orchestrator.targets.azureml import entities
from orchestrator.targets.azureml.entities import is_ours, tagged_fingerprint

if TYPE_CHECKING:
    from orchestrator.targets.azureml.target import AzureMLTarget


def _versions(t: AzureMLTarget, archived: bool = False) -> list:
    """The registered model's versions, active ones (Azure's default view) or archived ones."""
    from azure.ai.ml.constants import ListViewType

    view = ListViewType.ARCHIVED_ONLY if archived else ListViewType.ACTIVE_ONLY
    what = f"list the {'archived ' if archived else ''}versions of {t.spec.register_name}"
    found = t.find(what, lambda: list(t.ml.models.list(name=t.spec.register_name, list_view_type=view)))
    return found or []


def _tagged(models: list, t: AzureMLTarget, fingerprint: str):
    return next((m for m in models if is_ours(m, t.spec) and tagged_fingerprint(m) == fingerprint), None)


def find(t: AzureMLTarget, fingerprint: str, read: dict[bool, list] | None = None) -> tuple[str, bool] | None:
    """(version, archived) of the version registered for this fingerprint, or None. The archived
    versions are listed only when the active ones lack it; `read` keeps what was listed, by view."""
    read = {} if read is None else read
    for archived in (False, True):
        if archived not in read:
            read[archived] = _versions(t, archived)
        model = _tagged(read[archived], t, fingerprint)
        if model is not None:
            return str(model.version), archived
    return None


def version(t: AzureMLTarget) -> str:
    """The version the deployment serves: what this apply registered, else what observe found."""
    return t.current(RegisterRecord).version or t.seen.registered or find_or_fail(t)


def find_or_fail(t: AzureMLTarget) -> str:
    found = find(t, t.prints["register"])
    assert found is not None, "the register stage ran, or observe found its version"
    return found[0]


def observe(t: AzureMLTarget, fingerprint: str, cached: dict) -> Observed:
    found = find(t, fingerprint)
    if found is not None and not found[1]:
        t.seen.registered = found[0]
        return t.observed(True, fingerprint, cached, f"{t.spec.register_name} version {found[0]}")
    if found is not None:
        return Observed(False, note=f"version {found[0]} was archived (by destroy): apply restores it")
    if cached.get("version") and cached.get("fingerprint") != fingerprint:
        return t.observed(True, cached["fingerprint"], cached)
    return Observed(False)


def apply(t: AzureMLTarget, planned: PlannedStage, events: Events, ready: Ready) -> RegisterRecord:
    job = t.current(FinetuneRecord).job or t.seen.job.name
    name = t.spec.register_name
    read: dict[bool, list] = {}
    found = find(t, planned.fingerprint, read)
    if found is not None and found[1]:
        t.azure(f"restore {name}:{found[0]}", t.ml.models.restore, name, version=found[0])
        events.emit("progress", "register", message=f"restored {name}:{found[0]}, archived by destroy")
    if found is None:  # find listed both views: the next integer is read off them
        found = (_next_version(read[False] + read[True]), False)
        t.azure(
            f"register {name}:{found[0]}",
            t.ml.models.create_or_update,
            entities.model(t.spec, t.prints, job=job, version=found[0], achieved=t.current(FinetuneRecord).metrics),
        )
    t.seen.registered = found[0]
    return RegisterRecord(name=name, version=found[0], job=job, detail=f"{name} version {found[0]} from job {job}")


def _next_version(versions: list) -> str:
    """One more than the highest integer version, archived ones included (Azure never reuses one)."""
    numbers = [int(v) for m in versions if (v := str(m.version)).isdigit()]
    return str(max(numbers, default=0) + 1)


def archive(t: AzureMLTarget, entry: dict) -> None:
    found = find(t, t.prints["register"])
    versions = {v for v in (entry.get("version"), found[0] if found and not found[1] else None) if v}
    for v in sorted(versions):
        model = t.find("read the registered model", t.ml.models.get, t.spec.register_name, version=v)
        if model is not None and is_ours(model, t.spec):
            t.azure(f"archive {t.spec.register_name}:{v}", t.ml.models.archive, t.spec.register_name, version=v)


def metrics_of(t: AzureMLTarget, ref: str) -> dict[str, float]:
    """The metrics kept with a registered model (`name/versions/N` or `name:N`), {} without them."""
    from orchestrator import metrics

    name, version = metrics.split_ref(ref)
    if not name or not version:
        return {}
    model = t.find("read the registered model", t.ml.models.get, name, version=version)
    return metrics.from_tags(getattr(model, "tags", None)) if model is not None else {}


HANDLER: StageHandler[AzureMLTarget] = StageHandler(observe, apply, archive)
