"""deployment: the model on the endpoint with the spec's SKU, instances, probes and request settings.

blue_green (the default) names it after what it serves, so a new model is a new deployment beside
the serving one, and a scale-only change updates the same one in place (naming.deployment_name).
"""

from __future__ import annotations

from dataclasses import asdict

from orchestrator.naming import deployment_name
from orchestrator.spec.model import RunSpec
from orchestrator.stages.base import Stage


class DeploymentStage(Stage):
    name = "deployment"
    summary = "deploy the registered model beside the serving one (0 % traffic) and wait until it is healthy"
    depends_on = ("register", "endpoint")

    def inputs(self, spec: RunSpec) -> dict:
        d = spec.deployment
        return {
            "name": deployment_name(spec),
            "sku": d.sku,
            "instance_count": d.instance_count,
            "liveness": asdict(d.liveness),
            "readiness": asdict(d.readiness),
            "timeout_ms": d.timeout_ms,
            "max_concurrent_requests_per_instance": d.max_concurrent_requests_per_instance,
        }

    def resource(self, spec: RunSpec, fingerprint: str) -> str:
        return f"{spec.deployment.endpoint}/{deployment_name(spec)}"
