"""Quota before anything billable: the workspace region's vCPU quota per VM family, as Azure reports it.

What a run needs, per family: the fine-tune's nodes, and the deployment's instances plus the
20 % Azure keeps back for upgrades of managed online deployments ("if you request 10 instances in
a deployment, you must have a quota for 12", azure-ai-docs how-to-manage-quotas.md and
reference-yaml-deployment-managed-online.md). Read with `compute.list_usage()` and
`compute.list_sizes()`; both entities copy the REST model's as_dict(), so the numbers sit under
the wire names (`currentValue`, `vCPUs`) while `current_value` / `v_cp_us` stay None
(azure-ai-ml 1.35, ../shared/reference/azureml.md section 7).

How Azure reports usages (azure-rest-api-specs stable/2025-12-01 examples/Usage/list.json): one
row per family and tier ("Standard NCv3 Family Cluster Dedicated vCPUs", "... LowPriority
vCPUs"), repeated at subscription (region) scope, per workspace and per cluster (the scope is in
the row's id), with totals ("Total Cluster Dedicated Regional vCPUs") and `limit: -1` for "no
family limit". The vmSizes family is spelt otherwise (`standardNCSv3Family`): rows are matched
by the family's letters, exactly first, then without the premium-storage `s` when that leaves
one family. The free quota is the regional row's, capped by this workspace's row when it has one;
a per-cluster row never decides. A need no row can be matched to is said, never passed.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from orchestrator import preflight
from orchestrator.preflight import Check

if TYPE_CHECKING:
    from orchestrator.targets.azureml.target import AzureMLTarget

UPGRADE_RESERVE = 0.2  # managed online deployments: quota for 20 % more instances than requested
CHECK = "quota"


@dataclass(frozen=True)
class Need:
    what: str  # "the fine-tune", "the deployment"
    sku: str
    instances: int
    tier: str = "Dedicated"  # or LowPriority (a low-priority cluster's nodes)


@dataclass(frozen=True)
class Row:
    """One usage row: family key, tier, scope (region | workspace | cluster), in use, limit."""

    key: str
    tier: str
    scope: str
    used: int
    limit: int
    label: str


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


def check(t: AzureMLTarget, needs: list[Need], rows: list[Row] | None = None) -> Check:
    """The needs against the free quota of their families: ok, fail naming the family and the
    numbers, or undecided when Azure's rows do not say."""
    offered = sizes(t)
    wanted: dict[tuple[str, str], list[tuple[Need, int]]] = {}
    unknown = []
    for need in needs:
        size = offered.get(need.sku.lower())
        if not need.instances:
            continue
        if size is None or not getattr(size, "family", None):
            unknown.append(f"{need.sku} ({need.what})")
            continue
        wanted.setdefault((size.family, need.tier), []).append((need, need.instances * vcpus(size)))
    if not wanted and not unknown:
        return preflight.ok(CHECK, "nothing new to hold")
    rows = read_rows(t) if rows is None else rows
    problems, undecided, fits = [], [f"no VM size listed for {', '.join(unknown)}"] if unknown else [], []
    for (family, tier), parts in wanted.items():
        total = sum(cores for _, cores in parts)
        free, label = _free(rows, family, tier)
        needed = " and ".join(f"{need.what} needs {cores}" for need, cores in parts if cores)
        if free is None:
            undecided.append(f"{needed} vCPUs of {family} ({tier}): {label}")
        elif total > free:
            problems.append(f"{needed} vCPUs of {family} ({tier}); {free} are free ({label})")
        else:
            fits.append(f"{family} {tier}: {total} of {free} free vCPUs")
    if problems:
        return preflight.fail(CHECK, "; ".join(problems) + ": request more quota or choose another SKU")
    if undecided:
        return preflight.undecided(CHECK, "; ".join(undecided) + "; not checked")
    return preflight.ok(CHECK, "; ".join(fits))


def read_rows(t: AzureMLTarget) -> list[Row]:
    """The region's usage rows, as Azure reports them now."""
    usages = t.azure("read the quota", lambda: list(t.ml.compute.list_usage()))
    name = getattr(t.ml, "workspace_name", None) or t.workspace.name
    workspace = f"/workspaces/{name}/".lower() if name else None
    rows = []
    for usage in usages:
        label = _name(usage)
        if not label or usage.limit is None:
            continue
        rid = str(getattr(usage, "id", "") or "").lower()
        if "/computes/" in rid:
            scope = "cluster"
        elif "/workspaces/" in rid:
            if workspace is None or workspace not in rid + "/":
                continue  # another workspace's share of the region
            scope = "workspace"
        else:
            scope = "region"
        used = int(getattr(usage, "currentValue", None) or getattr(usage, "current_value", None) or 0)
        tier = "LowPriority" if "lowpriority" in label.lower().replace(" ", "") else "Dedicated"
        rows.append(Row(_key(label), tier, scope, used, int(usage.limit), label))
    return rows


def _free(rows: list[Row], family: str, tier: str) -> tuple[int | None, str]:
    """(free vCPUs, where that figure comes from) for one family and tier; (None, why) undecided."""
    candidates = [r for r in rows if r.tier == tier and r.scope != "cluster"]
    key = _key(family)
    chosen = [r for r in candidates if r.key == key]
    if not chosen:
        loose = {r.key for r in candidates if _loose(r.key) == _loose(key)}
        if len(loose) == 1:
            chosen = [r for r in candidates if r.key in loose]
    if not chosen:
        return None, f"Azure reports no {tier} usage row for this family"
    free: int | None = None
    where = []
    for scope in ("region", "workspace"):
        row = next((r for r in chosen if r.scope == scope), None)
        if row is None or row.limit < 0:  # -1: no limit of the family's own at this scope
            continue
        left = row.limit - row.used
        where.append(f"{row.label}, {scope}: limit {row.limit}, in use {row.used}")
        free = left if free is None else min(free, left)
    if free is None and tier == "LowPriority":
        total = next((r for r in rows if r.scope == "region" and r.tier == tier and r.key == "total"), None)
        if total is not None and total.limit >= 0:
            return total.limit - total.used, f"{total.label}: limit {total.limit}, in use {total.used}"
    if free is None:
        return None, "its rows set no limit"
    return free, "; ".join(where)


def _name(usage: Any) -> str:
    name = getattr(usage, "name", None)
    if isinstance(name, dict):
        return str(name.get("value") or name.get("localizedValue") or "")
    return str(getattr(name, "value", name) or "")


def _key(text: str) -> str:
    """The family's letters: 'standardNCSv3Family' and 'Standard NCSv3 Family Cluster Dedicated
    vCPUs' -> 'ncsv3'; the regional totals -> 'total'."""
    flat = re.sub(r"[^a-z0-9]", "", text.lower())
    if flat.startswith("totalcluster"):
        return "total"
    flat = flat.removeprefix("standard")
    return re.sub(r"(family)?(cluster)?(dedicated|lowpriority)?(vcpus)?$", "", flat)


def _loose(key: str) -> str:
    """Without the premium-storage `s` before the version: 'ncsv3' -> 'ncv3'."""
    return re.sub(r"s(?=v\d+$)", "", key)
