"""endpoint: the online endpoint (key auth). It does not wait for the fine-tune."""

from __future__ import annotations

from orchestrator.spec.model import RunSpec
from orchestrator.stages.base import Stage


class EndpointStage(Stage):
    name = "endpoint"
    summary = "create the online endpoint (key auth); runs alongside the fine-tune"
    alongside = "finetune"  # it needs nothing the fine-tune makes, and takes minutes on Azure

    def inputs(self, spec: RunSpec) -> dict:
        return {"endpoint": spec.deployment.endpoint, "auth_mode": "key"}

    def resource(self, spec: RunSpec, fingerprint: str) -> str:
        return spec.deployment.endpoint
