"""What the registry publishes about a base model (lifecycle, allow lists, recommended SKUs), and
the model successors Azure names nowhere in the registry, as a small sourced table (VM series
retirements: orchestrator/spec/skus.py, which validate reads too).

Where the registry keeps it: azureml-assets moved the allow lists, recommended SKUs and
deprecation dates out of the model's tags into its system metadata (azureml-assets #5150, #5190;
e.g. assets/models/system/Phi-4/spec.yaml at 4b41f8c: `system_metadata.supportedComputes.
{finetuneComputes, inferenceComputes}`, `SKU.{finetune,inference}RecommendedSkus`,
`deprecation.{finetune,inference}{Deprecation,Retirement}Date`; `isArchived: true` on archived
ones such as phi-3-mini-4k-instruct version 15). On the wire it is the version's
`properties.system_metadata` (azure-ai-ml 1.35 `_restclient/model_dataplane/operations/_patch.py`
writes that snake_case key), `properties.isArchived` the REST AssetBase flag. azure-ai-ml 1.35's
`Model` drops both on a registry read (its REST type declares neither), so `read` takes the raw
version the operations return. Tags are the fallback: older versions carry the allow lists as
Python-literal strings (`finetune_compute_allow_list`) and the dates as `FinetuneRetirementDate`.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from orchestrator.preflight import parse_date

# A model's published successor, where the registry names none (it does not: no azureml-assets
# spec carries one). Phi-4 is the Phi model of the azureml registry that chat_completion_pipeline
# fine-tunes today (azureml-assets 4b41f8c, assets/models/system/Phi-4/spec.yaml:
# fineTuningTasks [chat-completion], no deprecation); the Phi-3 and Phi-3.5 models are archived
# there (isArchived: true, retired 2025-08-30).
SUCCESSORS = {
    name.lower(): "Phi-4"
    for name in (
        "Phi-3-mini-4k-instruct",
        "Phi-3-mini-128k-instruct",
        "Phi-3-small-8k-instruct",
        "Phi-3-small-128k-instruct",
        "Phi-3-medium-4k-instruct",
        "Phi-3-medium-128k-instruct",
        "Phi-3.5-mini-instruct",
        "Phi-3.5-MoE-instruct",
    )
}


@dataclass(frozen=True)
class Catalog:
    """One registry model version as the catalog describes it."""

    name: str
    version: str
    archived: bool = False
    finetune_allow: tuple[str, ...] | None = None  # None: nothing published
    inference_allow: tuple[str, ...] | None = None
    dates: Mapping[str, date] = field(default_factory=dict)  # "fine-tune retirement" -> date, ...

    @property
    def successor(self) -> str:
        return SUCCESSORS.get(self.name.lower(), "")

    def retirements(self, kinds: tuple[str, ...]) -> dict[str, date]:
        return {k: v for k, v in self.dates.items() if k in kinds}


# system_metadata.deprecation key / tag name -> what the plan calls it
_DATES = {
    "finetuneRetirementDate": "fine-tune retirement",
    "inferenceRetirementDate": "inference retirement",
    "finetuneDeprecationDate": "fine-tune deprecation",
    "inferenceDeprecationDate": "inference deprecation",
}


def from_version(name: str, version: str, properties: Mapping[str, Any]) -> Catalog:
    """A Catalog from a registry model version's wire `properties` (system metadata first, tags second)."""
    system = _mapping(properties.get("system_metadata") or properties.get("systemMetadata"))
    tags = _mapping(properties.get("tags"))
    computes = _mapping(system.get("supportedComputes"))
    deprecation = _mapping(system.get("deprecation"))
    dates: dict[str, date] = {}
    for key, kind in _DATES.items():
        when = parse_date(deprecation.get(key) or tags.get(key[0].upper() + key[1:]))
        if when is not None:
            dates[kind] = when
    return Catalog(
        name,
        version,
        archived=bool(properties.get("isArchived") or properties.get("is_archived")),
        finetune_allow=_listed(computes.get("finetuneComputes")) or _listed(tags.get("finetune_compute_allow_list")),
        inference_allow=_listed(computes.get("inferenceComputes")) or _listed(tags.get("inference_compute_allow_list")),
        dates=dates,
    )


def _mapping(value) -> Mapping[str, Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return value if isinstance(value, Mapping) else {}


def _listed(value) -> tuple[str, ...] | None:
    """A list, or a tag's Python-literal list stored as a string (azureml-assets publishing)."""
    if isinstance(value, str):
        try:
            value = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            return None
    if isinstance(value, (list, tuple)) and value:
        return tuple(str(v) for v in value)
    return None
