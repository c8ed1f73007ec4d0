"""The base model in the registry: `latest` resolved once per apply, and its allow-list tags."""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

from orchestrator.errors import OrchestrateError
from orchestrator.events import Events
from orchestrator.model_defaults import TAG, parse_tag
from orchestrator.plan import Observed, PlannedStage
from orchestrator.target import Ready, StageHandler, not_ready

if TYPE_CHECKING:
    from orchestrator.targets.azureml.target import AzureMLTarget


def base_model(t: AzureMLTarget):
    """The registry model observe resolved (resolved now if observe did not run)."""
    if t.seen.model is None:
        t.seen.model = _resolve(t)
    return t.seen.model


def _resolve(t: AzureMLTarget):
    m = t.spec.model
    kwargs = {"label": "latest"} if m.version == "latest" else {"version": m.version}
    model = t.find(f"resolve model {m.name}", t.registry.models.get, m.name, **kwargs)
    if model is None:
        raise OrchestrateError(
            f"model {m.name} ({m.version}) not found in registry {m.registry}; "
            "check model.name and model.version (names are case-sensitive)"
        )
    return model


def observe(t: AzureMLTarget, fingerprint: str, cached: dict) -> Observed:
    model = base_model(t)
    pinned = f"resolves to {t.spec.model.name} version {model.version}"
    published = parse_tag((model.tags or {}).get(TAG))
    if cached.get("fingerprint") == fingerprint and cached.get("id") == model.id:
        return Observed(True, fingerprint, cached.get("inputs"), pinned, pinned, pinned=model.id, settings=published)
    return Observed(False, note=f"not resolved yet; {pinned}", pinned=model.id, settings=published)


def apply(t: AzureMLTarget, planned: PlannedStage, events: Events, ready: Ready = not_ready) -> dict:
    model = base_model(t)
    model_tags = dict(model.tags or {})
    return {
        "id": model.id,
        "version": str(model.version),
        "finetune_allow": _allow_list(model_tags.get("finetune_compute_allow_list")),
        "inference_allow": _allow_list(model_tags.get("inference_compute_allow_list")),
        "detail": f"{t.spec.model.name} version {model.version}",
    }


def _allow_list(tag: str | None) -> list[str] | None:
    """The model's allow-list tag: a Python-literal list stored as a string (azureml-assets publishing)."""
    if not tag:
        return None
    try:
        value = ast.literal_eval(tag)
    except (ValueError, SyntaxError):
        return None
    return [str(v) for v in value] if isinstance(value, (list, tuple)) else None


def check_allowed(t: AzureMLTarget, field: str, sku: str, allow: list[str] | None, tag: str) -> None:
    """A SKU against one of the model's allow lists (case-insensitive); no list, no check."""
    if allow is not None and sku.lower() not in {s.lower() for s in allow}:
        raise OrchestrateError(f"{field} {sku} is not in {t.spec.model.name}'s {tag}: {', '.join(allow)}")


HANDLER: StageHandler[AzureMLTarget] = StageHandler(observe, apply)
