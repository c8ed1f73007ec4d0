"""The local target's spec rules (validate), after the core's (spec/semantic.py)."""

from __future__ import annotations

from orchestrator.errors import Diagnostic
from orchestrator.spec.load import LoadedSpec
from orchestrator.spec.semantic import path_missing


def _model_path(data: dict, loaded: LoadedSpec) -> list[Diagnostic]:
    """A model given as a folder (a checkpoint on this machine) must exist."""
    found = path_missing(loaded, ("model", "name"), data["model"]["name"])
    return [found] if found else []


RULES = (_model_path,)
