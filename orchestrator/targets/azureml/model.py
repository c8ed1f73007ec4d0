"""The base model in the registry: `latest` resolved once per apply, and its allow-list tags."""

from __future__ import annotations

import ast
from collections.abc import Mapping
from typing import TYPE_CHECKING

from orchestrator import lockfile
from orchestrator.errors import OrchestrateError
from orchestrator.events import Events
from orchestrator.lockfile import Pin
from orchestrator.model_defaults import TAG, parse_tag
from orchestrator.plan import Observed, PlannedStage
from orchestrator.target import Ready, StageHandler, not_ready
from orchestrator.targets.azureml import pipeline

if TYPE_CHECKING:
    from orchestrator.targets.azureml.target import AzureMLTarget


def base_model(t: AzureMLTarget):
    """The registry model at its pinned version (resolve() reads it before anything else)."""
    if t.seen.model is None:
        t.resolve()
    return t.seen.model


def pins(t: AzureMLTarget, locked: Mapping[str, Pin], upgrade: bool) -> tuple[dict[str, Pin], list[str]]:
    """The base model and the chat_completion_pipeline component, pinned: at their locked versions
    (and a notice when `latest` has moved on), else at what `latest` is now."""
    from concurrent.futures import ThreadPoolExecutor

    m, refs, notices = t.spec.model, lockfile.refs(t.spec), []
    model_pin = None if upgrade else locked.get("model")
    component_pin = None if upgrade else locked.get("component")
    t.registry  # noqa: B018 - made once, before the reads share it
    # The reads are independent round trips: at once (a plan is latency-bound).
    with ThreadPoolExecutor(max_workers=3) as pool:
        pinned = pool.submit(_get, t, m.name, model_pin.version, True) if model_pin else None
        # What the spec names (its `latest` now): the model when nothing is pinned, else the notice.
        named = pool.submit(_get, t, m.name, m.version) if m.version == "latest" or not model_pin else None
        component = pool.submit(_component, t)
        chosen = pinned if pinned is not None else named
        assert chosen is not None, "a pinned version, or the spec's own"
        t.seen.model = chosen.result()
        newest = named.result() if named is not None else t.seen.model
        newest_component = component.result()
    if model_pin is not None and str(newest.version) != model_pin.version:
        notices.append(_newer(t, m.name, str(newest.version), model_pin.version))
    if component_pin is not None and newest_component != component_pin.version:
        notices.append(_newer(t, pipeline.COMPONENT, newest_component, component_pin.version))
    return {
        "model": Pin(refs["model"], str(t.seen.model.version)),
        "component": component_pin or Pin(refs["component"], newest_component),
    }, notices


def _newer(t: AzureMLTarget, what: str, newest: str, pinned: str) -> str:
    return (
        f"{what} {newest} is available (locked: {pinned}); `orchestrate lock --upgrade {t.spec.source_path}` to take it"
    )


def _get(t: AzureMLTarget, name: str, version: str, locked: bool = False):
    kwargs = {"label": "latest"} if version == "latest" else {"version": version}
    model = t.find(f"resolve model {name}", t.registry.models.get, name, **kwargs)
    if model is None:
        fix = (
            f"the lock file pins it; `orchestrate lock --upgrade {t.spec.source_path}` moves the pin"
            if locked
            else "check model.name and model.version (names are case-sensitive)"
        )
        raise OrchestrateError(f"model {name} ({version}) not found in registry {t.spec.model.registry}; {fix}")
    return model


def _component(t: AzureMLTarget) -> str:
    """The version chat_completion_pipeline's `latest` label names in the model's registry."""
    found = t.find(
        f"resolve component {pipeline.COMPONENT}", t.registry.components.get, pipeline.COMPONENT, label="latest"
    )
    if found is None:
        raise OrchestrateError(f"component {pipeline.COMPONENT} not found in registry {t.spec.model.registry}")
    return str(found.version)


def observe(t: AzureMLTarget, fingerprint: str, cached: dict) -> Observed:
    model = base_model(t)
    pinned = f"resolves to {t.spec.model.name} version {model.version}"
    published = parse_tag((model.tags or {}).get(TAG))
    if cached.get("fingerprint") == fingerprint and cached.get("id") == model.id:
        return Observed(True, fingerprint, cached.get("inputs"), pinned, pinned, pinned=model.id, settings=published)
    if cached.get("id"):  # recorded at another pin (a moved lock): the plan names what changed
        return t.observed(True, cached.get("fingerprint", ""), cached, pinned, pinned=model.id, settings=published)
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
