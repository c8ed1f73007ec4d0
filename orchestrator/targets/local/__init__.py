"""The local target: the same stages on this machine. Only this package imports torch & co., lazily."""

from __future__ import annotations

from pathlib import Path

from orchestrator.errors import Diagnostic
from orchestrator.registry import Starter, TargetInfo
from orchestrator.spec.load import LoadedSpec

SAMPLE_DATA = "data/quickstart-chat"  # relative to the spec; the starter's dataset.source


def _model_path(data: dict, loaded: LoadedSpec) -> list[Diagnostic]:
    """A model given as a folder (a checkpoint on this machine) must exist."""
    from orchestrator.spec.semantic import path_missing

    found = path_missing(loaded, ("model", "name"), data["model"]["name"])
    return [found] if found else []


def _sample_data(folder: Path) -> None:
    from orchestrator.targets.local.sample_data import write_dataset

    write_dataset(folder)


TARGET = TargetInfo(
    name="local",
    cls="orchestrator.targets.local.target:LocalTarget",
    schema="schema.json",
    rules=(_model_path,),
    starter=Starter({"model": "SmolLM2-135M-Instruct", "dataset": f"./{SAMPLE_DATA}"}, {SAMPLE_DATA: _sample_data}),
)
