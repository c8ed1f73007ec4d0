"""Data assets: each split uploaded as a `uri_file` data asset `<run>-<role>`, versioned by content."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

from orchestrator import dataprep
from orchestrator.events import Events
from orchestrator.plan import Observed, PlannedStage
from orchestrator.records import DataRecord
from orchestrator.stages.base import short
from orchestrator.target import Ready, StageHandler
from orchestrator.targets.azureml.entities import is_ours, tagged_fingerprint, tags

if TYPE_CHECKING:
    from orchestrator.targets.azureml.target import AzureMLTarget


def observe(t: AzureMLTarget, fingerprint: str, cached: dict) -> Observed:
    # A version is named by its content, so it may carry the tag of the spec that first uploaded it:
    # the cache's versions for this fingerprint count as this fingerprint's too.
    recorded = (cached.get("versions") or {}) if cached.get("fingerprint") == fingerprint else {}
    found, current = {}, True
    for role in sorted(t.spec.dataset.splits):
        assets = [
            a
            for a in t.azure("list data assets", lambda role=role: list(t.ml.data.list(name=f"{t.spec.name}-{role}")))
            if is_ours(a, t.spec)
        ]
        match = [a for a in assets if tagged_fingerprint(a) == fingerprint or str(a.version) == recorded.get(role)]
        found[role] = match[0] if match else (assets[0] if assets else None)
        current = current and bool(match)
    if not all(found.values()):
        return Observed(False)
    t.seen.data_versions = {role: str(a.version) for role, a in found.items() if a is not None}
    if current:
        return t.observed(True, fingerprint, cached)
    fps = {tagged_fingerprint(a) for a in found.values()}
    return t.observed(True, fps.pop() if len(fps) == 1 else "", cached)


def apply(t: AzureMLTarget, planned: PlannedStage, events: Events, ready: Ready) -> DataRecord:
    from azure.ai.ml.entities import Data

    out = t.dir / "data" / short(planned.fingerprint)
    splits = dataprep.prepare(t.spec, out)
    versions = {}
    for role, info in sorted(splits.items()):
        content = _file_hash(Path(info["path"]))
        name, version = f"{t.spec.name}-{role}", content[:12]
        existing = t.find("read a data asset", t.ml.data.get, name, version=version)
        if existing is not None and version not in _active(t, name):
            # Archived by destroy: a get by version still returns it, the lists observe reads do not.
            t.azure(f"restore {name}:{version}", t.ml.data.restore, name, version=version)
            events.emit("progress", "data", message=f"restored {name}:{version}, archived by destroy")
        if existing is None:
            asset = Data(
                name=name,
                version=version,
                type="uri_file",
                path=info["path"],
                description=f"{role} split of {t.spec.dataset.source} for run {t.spec.name}",
                tags={**tags(t.spec, "data", planned.fingerprint), "orchestrate.sha256": content},
            )
            t.azure(f"upload {role}.jsonl", t.ml.data.create_or_update, asset)
            events.emit("progress", "data", message=f"uploaded {role}.jsonl as {name}:{version}")
        versions[role] = version
    rows = ", ".join(f"{role} {info['rows']} rows" for role, info in sorted(splits.items()))
    shown = ", ".join(f"{t.spec.name}-{r}:{v}" for r, v in versions.items())
    return DataRecord(splits=splits, versions=versions, detail=f"{rows}; {shown}")


def _active(t: AzureMLTarget, name: str) -> set[str]:
    return {str(a.version) for a in t.azure("list data assets", lambda: list(t.ml.data.list(name=name)))}


def archive(t: AzureMLTarget, entry: dict) -> None:
    for role, version in (entry.get("versions") or {}).items():
        name = f"{t.spec.name}-{role}"
        asset = t.find("read a data asset", t.ml.data.get, name, version=version)
        if asset is not None and is_ours(asset, t.spec):
            t.azure(f"archive {name}:{version}", t.ml.data.archive, name, version=version)


def _file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


HANDLER: StageHandler[AzureMLTarget] = StageHandler(observe, apply, archive)
