"""register: the fine-tuned model as a registered MLflow model. Its version is the registry's next
integer (Azure and MLflow take no other); the fingerprint is a tag on it, which is how a re-apply
finds it."""

from __future__ import annotations

from orchestrator.kinds import Action
from orchestrator.spec.model import RunSpec
from orchestrator.stages.base import Stage, short


class RegisterStage(Stage):
    name = "register"
    summary = "register the fine-tuned model (mlflow_model)"
    depends_on = ("finetune",)
    on_change = Action.REPLACE

    def inputs(self, spec: RunSpec) -> dict:
        return {"name": spec.register_name}

    def resource(self, spec: RunSpec, fingerprint: str) -> str:
        return f"{spec.register_name} (version tagged {short(fingerprint)})"
