"""model: resolve the base model (registry name + version or label) to one pinned version."""

from __future__ import annotations

from orchestrator.spec.model import RunSpec
from orchestrator.stages.base import Stage


def registry_uri(registry: str | None, kind: str, name: str, version: str) -> str:
    """An asset in an Azure ML registry: at its `latest` label, or at one version."""
    which = "labels/latest" if version == "latest" else f"versions/{version}"
    return f"azureml://registries/{registry}/{kind}/{name}/{which}"


class ModelStage(Stage):
    name = "model"
    summary = "resolve the base model and pin its version"
    observed_first = True  # its model_specific_defaults tag changes the fine-tune's inputs

    def inputs(self, spec: RunSpec) -> dict:
        m = spec.model
        inputs = {"registry": m.registry, "name": m.name, "version": m.version}
        if m.version == "latest" and "model" in spec.pins:
            # The locked version: a newer `latest` changes nothing until `orchestrate lock --upgrade`.
            inputs["pinned"] = spec.pins["model"]
        return inputs

    def resource(self, spec: RunSpec, fingerprint: str) -> str:
        m = spec.model
        if m.registry is None:  # a target with no registry (local): the name, or a folder
            return m.name
        return registry_uri(m.registry, "models", m.name, m.version)
