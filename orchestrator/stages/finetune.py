"""finetune: the chat_completion_pipeline job (azureml) or a LoRA run on this machine (local)."""

from __future__ import annotations

from dataclasses import asdict

from orchestrator.kinds import Action
from orchestrator.spec.model import RunSpec
from orchestrator.stages.base import Stage, short


class FinetuneStage(Stage):
    name = "finetune"
    summary = "fine-tune the base model on the train split"
    depends_on = ("data", "model")
    on_change = Action.REPLACE

    def inputs(self, spec: RunSpec) -> dict:
        params = asdict(spec.finetune)
        # Added in 0.2.0: at their defaults they must not change the fingerprint of runs made before.
        if params["num_nodes"] == 1:
            del params["num_nodes"]
        if params["instance_type"] is None:
            del params["instance_type"]
        # Only what the job runs on matters here: scaling the cluster (min/max) must not rerun it.
        if spec.compute is not None:
            params["compute"] = {"name": spec.compute.name, "sku": spec.compute.sku}
        if "component" in spec.pins:  # the locked chat_completion_pipeline version (azureml)
            params["component"] = spec.pins["component"]
        return params

    def resource(self, spec: RunSpec, fingerprint: str) -> str:
        return self.job_name(spec, fingerprint)

    @staticmethod
    def job_name(spec: RunSpec, fingerprint: str) -> str:
        """The fine-tune job's name: `<run>-ft-<fingerprint>` (a rerun after a failure adds `-2`...)."""
        return f"{spec.name}-ft-{short(fingerprint)}"
