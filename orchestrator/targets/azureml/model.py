"""The base model in the registry: `latest` resolved once per apply, and what its catalog entry says
(lifecycle, allow lists: catalog.py) checked before anything bills."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import TYPE_CHECKING

from orchestrator import lockfile, preflight
from orchestrator.errors import OrchestrateError
from orchestrator.events import Events
from orchestrator.lockfile import Pin
from orchestrator.model_defaults import TAG, parse_tag
from orchestrator.plan import Observed, PlannedStage
from orchestrator.preflight import Check
from orchestrator.records import ModelRecord
from orchestrator.spec.skus import series_of
from orchestrator.target import Ready, StageHandler, not_ready
from orchestrator.targets.azureml import catalog, pipeline

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
    """The registry model at `version` (or its `latest` label), with what its catalog entry says
    (t.seen.catalogs). A model whose every version is archived resolves to its newest one, so the
    pre-flight can say archived, and since when, instead of "not found"."""
    from azure.ai.ml.entities import Model

    if version == "latest":  # the newest active version, else (every one archived) the newest of all
        version = _newest(t, name) or _newest(t, name, archived_too=True)
    raw = t.find(f"resolve model {name}", t.registry.models._get, name, version) if version else None
    if raw is None:
        fix = (
            f"the lock file pins it; `orchestrate lock --upgrade {t.spec.source_path}` moves the pin"
            if locked
            else "check model.name and model.version (names are case-sensitive)"
        )
        shown = version or t.spec.model.version
        raise OrchestrateError(f"model {name} ({shown}) not found in registry {t.spec.model.registry}; {fix}")
    # azure-ai-ml's Model drops the catalog's system metadata and isArchived: read them off the wire.
    t.seen.catalogs[version] = catalog.from_version(name, version, raw.properties)
    return Model._from_rest_object(raw)


def _newest(t: AzureMLTarget, name: str, archived_too: bool = False) -> str:
    """The newest version of `name` ("" when the registry lists none: a misspelt name, or, of the
    active ones, every version archived), ordered as the SDK orders `label="latest"`.

    One list through the SDK's own registry client: its `models.get(label="latest")` lists and
    then gets the version (which `_get` reads anyway, for the fields its `Model` drops), raises
    a ValidationException rather than a 404 for an empty list, and its `models.list(name)` drops
    `list_view_type`; the REST contract's `listViewType=All` (RegistryModelVersions_List) finds
    the archived ones."""
    from azure.ai.ml._utils._registry_utils import REGISTRY_DATAPLANE_API_VERSION
    from azure.core.rest import HttpRequest

    ops = t.registry.models
    client = ops._registry_service_client
    path = (
        f"/subscriptions/{client._config.subscription_id}/resourceGroups/{ops._resource_group_name}/providers/"
        f"Microsoft.MachineLearningServices/registries/{ops._registry_name}/models/{name}/versions"
    )
    params = {"api-version": REGISTRY_DATAPLANE_API_VERSION, "$orderBy": "createdtime desc", "$top": "1"}
    if archived_too:
        params["listViewType"] = "All"
    request = HttpRequest("GET", path, params=params)

    def listed() -> list[str]:
        response = client.send_request(request)
        if response.status_code == 404:
            return []
        response.raise_for_status()
        return [str(v.get("name", "")) for v in response.json().get("value", [])]

    versions = [v for v in t.azure(f"list the versions of model {name}", listed) if v]
    return versions[0] if versions else ""


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


def apply(t: AzureMLTarget, planned: PlannedStage, events: Events, ready: Ready = not_ready) -> ModelRecord:
    model = base_model(t)
    return ModelRecord(id=model.id, version=str(model.version), detail=f"{t.spec.model.name} version {model.version}")


# --- pre-flight ---------------------------------------------------------------------------------------
def checks(t: AzureMLTarget) -> list[Check]:
    """What the catalog says of the pinned model and of the SKUs the spec names: its lifecycle, its
    allow lists, and the VM series' retirements. Needs only resolve(), so `lock --check` runs it."""
    model = base_model(t)
    entry = t.seen.catalogs.get(str(model.version)) or catalog.Catalog(t.spec.model.name, str(model.version))
    today = date.today()
    finetune_field, finetune_sku = t.finetune_sku
    out = [lifecycle(t, entry, today), _allowed(t, finetune_field, finetune_sku, entry.finetune_allow, "fine-tune")]
    d = t.spec.deployment
    if d.sku:
        out.append(_allowed(t, "deployment.sku", d.sku, entry.inference_allow, "inference"))
    for field, sku in ((finetune_field, finetune_sku), ("deployment.sku", d.sku)):
        series = series_of(sku or "")
        if series is not None:
            what = f"{field} {sku} (VM series {series.name})"
            out.append(preflight.retirement("VM series", what, {"retirement": series.retired}, today, series.successor))
    return out


def lifecycle(t: AzureMLTarget, entry: catalog.Catalog, today: date) -> Check:
    what = f"model {entry.name} version {entry.version}"
    retired = entry.retirements(("fine-tune retirement", "inference retirement"))
    if entry.archived:
        when = min(retired.items(), key=lambda kv: kv[1]) if retired else None
        since = f" (its {when[0]} was {when[1].isoformat()})" if when else ""
        then = f"; successor: {entry.successor}" if entry.successor else ""
        return preflight.fail(
            "model lifecycle", f"{what} is archived in registry {t.spec.model.registry}, retired{since}{then}"
        )
    if not retired:
        return preflight.ok("model lifecycle", f"{what}: no retirement published")
    return preflight.retirement("model lifecycle", what, retired, today, entry.successor)


def _allowed(t: AzureMLTarget, field: str, sku: str, allow: tuple[str, ...] | None, kind: str) -> Check:
    """A SKU against one of the model's allow lists (case-insensitive, as the notebook compares)."""
    name = f"{kind} SKU"
    if allow is None:  # validate refuses the K80 sizes that no model fine-tunes on
        return preflight.undecided(
            name, f"no {kind} allow list published for {t.spec.model.name}: {field} {sku} not checked"
        )
    if sku.lower() in {s.lower() for s in allow}:
        return preflight.ok(name, f"{field} {sku} is in {t.spec.model.name}'s {kind} allow list")
    return preflight.fail(name, f"{field} {sku} is not in {t.spec.model.name}'s {kind} allow list: {', '.join(allow)}")


HANDLER: StageHandler[AzureMLTarget] = StageHandler(observe, apply, checks=checks)
