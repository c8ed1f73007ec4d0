"""compute: check (or create) the fine-tune cluster before anything billable starts."""

from __future__ import annotations

from dataclasses import asdict

from orchestrator.spec.model import RunSpec
from orchestrator.stages.base import Stage


class ComputeStage(Stage):
    name = "compute"
    summary = "check the cluster: SKU allowed for the model, GPUs per node, not in a failed state"

    def inputs(self, spec: RunSpec) -> dict:
        if spec.compute is None:
            return {"local": True}
        return asdict(spec.compute)

    def resource(self, spec: RunSpec, fingerprint: str) -> str:
        return "this machine (CPU)" if spec.compute is None else spec.compute.name
