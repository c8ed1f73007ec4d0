"""Quota before anything billable: the workspace region's vCPU quota per VM family.

What a run needs, per family: the fine-tune's nodes, and the deployment's instances plus the
20 % Azure keeps back for upgrades of managed online deployments ("if you request 10 instances in
a deployment, you must have a quota for 12", azure-ai-docs how-to-manage-quotas.md and
reference-yaml-deployment-managed-online.md). Read with `compute.list_usage()` and
`compute.list_sizes()`; both entities copy the REST model's as_dict(), so the numbers sit under
the wire names (`currentValue`, `vCPUs`) while `current_value` / `v_cp_us` stay None
(azure-ai-ml 1.35, ../shared/reference/azureml.md section 7).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from orchestrator.errors import OrchestrateError

if TYPE_CHECKING:
    from orchestrator.targets.azureml.target import AzureMLTarget

UPGRADE_RESERVE = 0.2  # managed online deployments: quota for 20 % more instances than requested


@dataclass(frozen=True)
class Need:
    what: str  # "the fine-tune", "the deployment"
    sku: str
    instances: int


def deployment_instances(count: int) -> int:
    """Instances' worth of quota a managed online deployment holds: its count plus the 20 % reserve."""
    return math.ceil(count * (1 + UPGRADE_RESERVE))


def sizes(t: AzureMLTarget) -> dict[str, Any]:
    """The region's VM sizes by lower-case name (read once per apply)."""
    if t.seen.sizes is None:
        listed = t.azure("list VM sizes", lambda: list(t.ml.compute.list_sizes()))
        t.seen.sizes = {s.name.lower(): s for s in listed}
    return t.seen.sizes


def vcpus(size: Any) -> int:
    return int(getattr(size, "vCPUs", None) or getattr(size, "v_cp_us", None) or 0)


def check(t: AzureMLTarget, needs: list[Need]) -> None:
    """Refuse, naming the family and the numbers, when a need does not fit the free quota."""
    offered = sizes(t)
    by_family: dict[str, list[tuple[Need, int]]] = {}
    for need in needs:
        size = offered.get(need.sku.lower())
        if size is None or not getattr(size, "family", None):
            continue  # not listed here: the allow-list and GPU checks speak for the SKU
        by_family.setdefault(size.family, []).append((need, need.instances * vcpus(size)))
    if not by_family:
        return
    usages = {_family(u).lower(): u for u in t.azure("read the quota", lambda: list(t.ml.compute.list_usage()))}
    for family, wanted in by_family.items():
        usage = usages.get(family.lower())
        if usage is None or usage.limit is None:
            continue  # Azure did not report this family: nothing to compare with
        used = int(getattr(usage, "currentValue", None) or getattr(usage, "current_value", None) or 0)
        free = int(usage.limit) - used
        total = sum(cores for _, cores in wanted)
        if total > free:
            parts = " and ".join(f"{need.what} needs {cores} vCPUs" for need, cores in wanted if cores)
            where = getattr(usage, "amlWorkspaceLocation", None) or getattr(usage, "aml_workspace_location", "")
            raise OrchestrateError(
                f"{parts} of {family}; {free} are free{' in ' + where if where else ''} "
                f"(limit {usage.limit}, in use {used}): request more quota or choose another SKU"
            )


def _family(usage: Any) -> str:
    name = getattr(usage, "name", None)
    if isinstance(name, dict):
        return str(name.get("value", ""))
    return str(getattr(name, "value", name) or "")
