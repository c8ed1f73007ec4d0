"""The local target: the same stages on this machine. Only this package imports torch & co., lazily."""

from __future__ import annotations

from pathlib import Path

from orchestrator.registry import Starter, TargetInfo

SAMPLE_DATA = "data/quickstart-chat"  # relative to the spec; the starter's dataset.source


def _sample_data(folder: Path) -> None:
    from orchestrator.targets.local.sample_data import write_dataset

    write_dataset(folder)


TARGET = TargetInfo(
    name="local",
    cls="orchestrator.targets.local.target:LocalTarget",
    schema="schema.json",
    rules="orchestrator.targets.local.rules:RULES",
    starter=Starter({"model": "SmolLM2-135M-Instruct", "dataset": f"./{SAMPLE_DATA}"}, {SAMPLE_DATA: _sample_data}),
)
