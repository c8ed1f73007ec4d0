"""The azureml target. Only modules in this package import azure.ai.ml / azure.identity, lazily."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.registry import Starter, TargetInfo

if TYPE_CHECKING:
    from orchestrator.spec.model import RunSpec


def _refs(spec: RunSpec) -> dict[str, str]:
    """The base model and the chat_completion_pipeline component: both move with `latest`."""
    from orchestrator.stages.model import ModelStage
    from orchestrator.targets.azureml.pipeline import component_uri

    return {"model": ModelStage().resource(spec, ""), "component": component_uri(spec.model.registry or "azureml")}


def _render(spec: RunSpec, out_dir: Path) -> list[Path]:
    from orchestrator.targets.azureml.render import render

    return render(spec, out_dir)


def _sharing() -> contextlib.AbstractContextManager[Any]:
    from orchestrator.targets.azureml.connect import sharing  # no azure import: only when used

    return sharing()


TARGET = TargetInfo(
    name="azureml",
    cls="orchestrator.targets.azureml.target:AzureMLTarget",
    schema="schema.json",
    rules="orchestrator.targets.azureml.rules:RULES",
    credentials=("default", "cli", "environment", "managed_identity", "workload_identity", "interactive"),
    model_registry="azureml",
    refs=_refs,
    render=_render,
    sharing=_sharing,
    starter=Starter({"model": "Phi-4", "dataset": "HuggingFaceH4/ultrachat_200k"}),
)
