"""compute: check (or create) the fine-tune cluster before anything billable starts."""

from __future__ import annotations

from dataclasses import asdict

from orchestrator.spec.model import RunSpec
from orchestrator.stages.base import Stage


class ComputeStage(Stage):
    name = "compute"
    summary = "check the cluster: SKU allowed for the model, GPUs per node, not in a failed state"

    def inputs(self, spec: RunSpec) -> dict:
        if spec.compute is not None:
            params = asdict(spec.compute)
            if params["fallback"] == "none":  # added in 0.2.0: the default keeps older fingerprints
                del params["fallback"]
            return params
        if spec.finetune.instance_type:
            return {"serverless": spec.finetune.instance_type, "nodes": spec.finetune.num_nodes}
        return {"local": True}

    def resource(self, spec: RunSpec, fingerprint: str) -> str:
        if spec.compute is not None:
            c = spec.compute
            if c.tier == "low_priority":
                return f"{c.name} (low_priority{', falls back to dedicated' if c.fallback == 'dedicated' else ''})"
            return c.name
        if spec.finetune.instance_type:
            return f"serverless {spec.finetune.instance_type}"
        return "this machine (CPU)"
