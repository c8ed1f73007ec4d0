"""smoke_test: one chat-completion request against the live deployment; failure rolls traffic back."""

from __future__ import annotations

from orchestrator.kinds import Action
from orchestrator.spec.model import RunSpec
from orchestrator.stages.base import Stage


class SmokeTestStage(Stage):
    name = "smoke_test"
    summary = "invoke the endpoint with one conversation and check the answer"
    depends_on = ("deployment", "traffic")
    on_change = Action.REPLACE

    def inputs(self, spec: RunSpec) -> dict:
        st = spec.smoke_test
        sample = st.sample_from if isinstance(st.sample_from, str) else list(st.sample_from)
        return {"sample_from": sample, "parameters": st.parameters}

    def resource(self, spec: RunSpec, fingerprint: str) -> str:
        st = spec.smoke_test
        source = (
            f"1 conversation from {st.sample_from}"
            if isinstance(st.sample_from, str)
            else f"{len(st.sample_from)} inline message(s)"
        )
        return f"{spec.deployment.endpoint} <- {source}"
