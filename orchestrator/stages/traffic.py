"""traffic: the rollout's steps to the new deployment's share, then the previous one deleted."""

from __future__ import annotations

from orchestrator.naming import deployment_name
from orchestrator.spec.model import RunSpec
from orchestrator.stages.base import Stage


class TrafficStage(Stage):
    name = "traffic"
    summary = "move the endpoint's traffic to the new deployment in the rollout's steps; delete the previous one"
    # Only the route matters: a scale-only change of the deployment keeps its traffic.
    depends_on = ("endpoint",)

    def inputs(self, spec: RunSpec) -> dict:
        return {"deployment": deployment_name(spec), "percent": spec.deployment.traffic}

    def resource(self, spec: RunSpec, fingerprint: str) -> str:
        return f"{spec.deployment.endpoint}: {deployment_name(spec)}={spec.deployment.traffic}%"
