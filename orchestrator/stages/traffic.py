"""traffic: route the spec's share of the endpoint's traffic to the deployment."""

from __future__ import annotations

from orchestrator.spec.model import RunSpec
from orchestrator.stages.base import Stage


class TrafficStage(Stage):
    name = "traffic"
    summary = "send the deployment its share of the endpoint's traffic"
    # Only the route matters: a new model version behind the same deployment keeps its traffic.
    depends_on = ("endpoint",)

    def inputs(self, spec: RunSpec) -> dict:
        return {"deployment": spec.deployment.name, "percent": spec.deployment.traffic}

    def resource(self, spec: RunSpec, fingerprint: str) -> str:
        return f"{spec.deployment.endpoint}: {spec.deployment.name}={spec.deployment.traffic}%"
