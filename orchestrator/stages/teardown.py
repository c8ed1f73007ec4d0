"""teardown: delete the endpoint once the smoke test passed, when the spec asks for it."""

from __future__ import annotations

from orchestrator.kinds import Action
from orchestrator.spec.model import RunSpec
from orchestrator.stages.base import Stage


class TeardownStage(Stage):
    name = "teardown"
    summary = "delete the endpoint and its deployment (they bill by the hour)"
    depends_on = ("smoke_test",)
    on_change = Action.REPLACE
    # What it deletes: the endpoint first, whose deletion takes its deployments and route with it.
    deletes = ("endpoint", "deployment", "traffic")
    # While it is up to date these are done, not missing: what it deleted, and the test it followed.
    removes = (*deletes, "smoke_test")

    def applies(self, spec: RunSpec) -> bool:
        return spec.teardown_after_smoke_test

    def inputs(self, spec: RunSpec) -> dict:
        return {"endpoint": spec.deployment.endpoint}

    def resource(self, spec: RunSpec, fingerprint: str) -> str:
        return spec.deployment.endpoint
