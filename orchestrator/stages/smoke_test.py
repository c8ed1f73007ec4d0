"""smoke_test: the gates at 0 % traffic: one request to the new deployment, then its evaluation."""

from __future__ import annotations

from dataclasses import asdict

from orchestrator.kinds import Action
from orchestrator.naming import deployment_name
from orchestrator.spec.model import RunSpec
from orchestrator.stages.base import Stage


class SmokeTestStage(Stage):
    name = "smoke_test"
    summary = "send the new deployment one conversation, then evaluate it against the serving one"
    depends_on = ("deployment",)
    on_change = Action.REPLACE

    def inputs(self, spec: RunSpec) -> dict:
        st = spec.smoke_test
        sample = st.sample_from if isinstance(st.sample_from, str) else list(st.sample_from)
        inputs = {"sample_from": sample, "parameters": st.parameters}
        if st.evaluate.samples:
            inputs["evaluate"] = asdict(st.evaluate)
        return inputs

    def resource(self, spec: RunSpec, fingerprint: str) -> str:
        st = spec.smoke_test
        source = (
            f"1 conversation from {st.sample_from}"
            if isinstance(st.sample_from, str)
            else f"{len(st.sample_from)} inline message(s)"
        )
        ev = st.evaluate
        gate = f"; evaluate {ev.samples} from {ev.split} ({ev.metric})" if ev.samples else ""
        return f"{deployment_name(spec)} <- {source}{gate}"
