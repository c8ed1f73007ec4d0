"""data: take the spec's percent of each split and write one ultrachat-schema JSONL per split."""

from __future__ import annotations

from dataclasses import asdict

from orchestrator.kinds import Action
from orchestrator.spec.model import RunSpec
from orchestrator.stages.base import Stage, short


class DataStage(Stage):
    name = "data"
    summary = "sample each split and write <split>.jsonl (uploaded as uri_file inputs on azureml)"
    on_change = Action.REPLACE

    def inputs(self, spec: RunSpec) -> dict:
        ds = spec.dataset
        inputs = {
            "source": ds.source,
            "subset": ds.subset,
            "seed": ds.seed,
            "splits": {role: asdict(split) for role, split in sorted(ds.splits.items())},
        }
        revision = spec.pins.get("dataset") or ds.revision
        if revision:  # a Hub dataset's revision, as locked (absent for a local folder)
            inputs["revision"] = revision
        return inputs

    def resource(self, spec: RunSpec, fingerprint: str) -> str:
        return ", ".join(f"{spec.name}-{role}:{short(fingerprint)}" for role in sorted(spec.dataset.splits))
