"""The fine-tune cluster, and its pre-flight checks: the cluster, GPUs per node, and the quota of the
fine-tune and of the deployment (preflight.py runs them before anything billable)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestrator import preflight
from orchestrator.errors import OrchestrateError
from orchestrator.events import Events
from orchestrator.naming import deployment_name
from orchestrator.plan import Observed, PlannedStage
from orchestrator.preflight import Check
from orchestrator.records import ComputeRecord
from orchestrator.target import Ready, StageHandler, observe_recorded
from orchestrator.targets.azureml import deployment as deployments
from orchestrator.targets.azureml import quota, waits
from orchestrator.targets.azureml.calls import AzureError
from orchestrator.targets.azureml.entities import is_ours, state_of, tagged_fingerprint, tags
from orchestrator.targets.azureml.seen import UNREAD

if TYPE_CHECKING:
    from orchestrator.targets.azureml.target import AzureMLTarget


def prefetch(t: AzureMLTarget) -> list[quota.Row]:
    """The region's VM sizes and usage rows the pre-flight needs, read once, the two at once. The
    compute stage's observe reads them, so they come while the other stages are observed."""
    if t.seen.usage_rows is None:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=2) as pool:  # two independent round trips (or pages of them)
            sizes = pool.submit(quota.sizes, t)
            rows = pool.submit(quota.read_rows, t)
            sizes.result()
            t.seen.usage_rows = rows.result()
    return t.seen.usage_rows


def observe(t: AzureMLTarget, fingerprint: str, cached: dict) -> Observed:
    try:
        prefetch(t)
    except OrchestrateError:
        pass  # for the pre-flight only, which reads them again and says what failed
    if t.spec.compute is None:  # serverless: no cluster; the checks are recorded like a cluster would be
        return observe_recorded(t, fingerprint, cached)
    c = t.compute
    cluster = t.find("read the compute cluster", t.ml.compute.get, c.name)
    t.seen.compute = cluster
    if cluster is None:
        return Observed(False)
    if state_of(cluster.provisioning_state) == "Failed":
        return Observed(False, note=f"cluster {c.name} is in state Failed")
    if busy := waits.note(f"cluster {c.name}", cluster):
        return Observed(False, note=busy)
    same_size = (cluster.size or "").lower() == c.sku.lower()
    if not is_ours(cluster, t.spec):
        # A shared (team) cluster: used as it is, never scaled or changed; only its size must match.
        if same_size:
            return t.observed(True, fingerprint, cached, shared_cluster(cluster), note=shared_cluster(cluster))
        return Observed(
            True,
            tagged_fingerprint(cluster),
            None,
            note=f"cluster {c.name} is {cluster.size}, not {c.sku}, and is not managed by this run: apply refuses it",
        )
    # The cluster as it is decides (its tags only say who made it): matching the spec is up to date.
    same = same_size and cluster.min_instances == c.min_instances and cluster.max_instances == c.max_instances
    if same:
        return t.observed(True, fingerprint, cached, f"{cluster.size}, {c.min_instances}..{c.max_instances} instances")
    return Observed(
        True,
        tagged_fingerprint(cluster),
        None,
        note=f"cluster is {cluster.size}, {cluster.min_instances}..{cluster.max_instances} instances",
    )


def shared_cluster(cluster) -> str:
    return (
        f"uses existing cluster {cluster.name}, not managed by this run: "
        f"{cluster.min_instances}..{cluster.max_instances} instances"
    )


def checks(t: AzureMLTarget) -> list[Check]:
    """The cluster (state, size, nodes, GPUs per node) and the quota for the fine-tune and the
    deployment, whoever owns the cluster: a shared one's stage is skipped, not its checks."""
    field, sku = t.finetune_sku
    usage_rows = prefetch(t)
    out = [_gpus(t, field, sku)]
    if t.spec.compute is not None:
        out.append(_cluster(t))
    c, cluster = t.spec.compute, t.seen.compute
    # A shared cluster's nodes are its owner's to count; the deployment's are this run's.
    shared = c is not None and cluster not in (None, UNREAD) and not is_ours(cluster, t.spec)
    tier = "LowPriority" if c is not None and c.tier in ("low_priority", "LowPriority") else "Dedicated"
    needs = [quota.Need("the fine-tune", sku, 0 if shared else t.spec.finetune.num_nodes, tier)]
    if t.spec.deployment.sku:
        needs.append(deployments.quota_need(t, _endpoint(t), deployment_name(t.spec)))
    return out + [quota.check(t, needs, usage_rows)]


def _endpoint(t: AzureMLTarget):
    endpoint = t.seen.endpoint
    if endpoint is UNREAD:
        endpoint = t.seen.endpoint = t.find("read the endpoint", t.ml.online_endpoints.get, t.spec.deployment.endpoint)
    return endpoint


def _cluster(t: AzureMLTarget) -> Check:
    c = t.compute
    cluster = t.seen.compute
    if cluster is UNREAD:
        cluster = t.seen.compute = t.find("read the compute cluster", t.ml.compute.get, c.name)
    nodes = t.spec.finetune.num_nodes
    if cluster is None and nodes > c.max_instances:
        return preflight.fail(
            "cluster",
            f"finetune.num_nodes is {nodes} but compute.max_instances is {c.max_instances}: lower num_nodes or "
            "raise the cluster's maximum",
        )
    if cluster is None:
        return preflight.ok("cluster", f"{c.name} does not exist yet: apply creates it ({c.sku})")
    if state_of(cluster.provisioning_state) == "Failed":
        return preflight.fail(
            "cluster",
            f"compute cluster {c.name} is in provisioning state Failed; delete it or choose another compute.name",
        )
    if (cluster.size or "").lower() != c.sku.lower():
        return preflight.fail(
            "cluster",
            f"compute cluster {c.name} exists with size {cluster.size}, not {c.sku}; a cluster's size cannot "
            "change: choose another compute.name or delete the cluster",
        )
    shared = not is_ours(cluster, t.spec)
    most = cluster.max_instances if shared else c.max_instances
    if nodes > most:
        where = f"existing cluster {c.name} scales to {most}" if shared else f"compute.max_instances is {most}"
        return preflight.fail(
            "cluster", f"finetune.num_nodes is {nodes} but {where}: lower num_nodes or raise the cluster's maximum"
        )
    whose = "shared, not managed by this run" if shared else "managed by this run"
    return preflight.ok("cluster", f"{c.name}: {cluster.size}, {whose}, up to {most} nodes")


def _gpus(t: AzureMLTarget, field: str, sku: str) -> Check:
    size = quota.sizes(t).get(sku.lower())
    if size is None:
        return preflight.fail("GPUs per node", f"{field} {sku} is not offered in this workspace's region")
    if not size.gpus:
        return preflight.fail("GPUs per node", f"{field} {sku} has no GPU; fine-tuning needs a GPU SKU")
    if isinstance(t.spec.finetune.gpus_per_node, int) and t.spec.finetune.gpus_per_node > size.gpus:
        return preflight.fail(
            "GPUs per node", f"finetune.gpus_per_node is {t.spec.finetune.gpus_per_node} but {sku} has {size.gpus}"
        )
    return preflight.ok("GPUs per node", f"{sku} has {size.gpus}")


def apply(t: AzureMLTarget, planned: PlannedStage, events: Events, ready: Ready) -> ComputeRecord:
    """Create or scale the cluster (the pre-flight checked it, and everything else, already)."""
    from azure.ai.ml.entities import AmlCompute

    field, sku = t.finetune_sku
    size = quota.sizes(t).get(sku.lower())
    gpus = size.gpus if size is not None and t.spec.finetune.gpus_per_node == "auto" else None
    gpu_text = f", {gpus} GPU(s) per node" if gpus else ""
    if t.spec.compute is None:
        nodes = t.spec.finetune.num_nodes
        return ComputeRecord(gpus=gpus, detail=f"serverless {sku}, {nodes} node{'s' if nodes != 1 else ''}{gpu_text}")
    c = t.compute
    cluster = t.seen.compute

    def read():
        return t.find("read the compute cluster", t.ml.compute.get, c.name)

    if cluster is UNREAD or waits.busy(cluster):
        cluster = waits.settled(f"compute cluster {c.name}", read, events, "compute")
    if cluster is not None and not is_ours(cluster, t.spec):
        # The spec's min/max describe a cluster the run creates; a shared one is left as it is.
        return ComputeRecord(gpus=gpus, detail=shared_cluster(cluster) + gpu_text)
    tier = "low_priority" if c.tier in ("low_priority", "LowPriority") else "dedicated"
    if cluster is None or (cluster.min_instances, cluster.max_instances) != (c.min_instances, c.max_instances):
        verb = "create" if cluster is None else "scale"

        def make(tier: str) -> None:
            spec_cluster = AmlCompute(
                name=c.name,
                size=c.sku,
                min_instances=c.min_instances,
                max_instances=c.max_instances,
                tier=tier,
                tags=tags(t.spec, "compute", planned.fingerprint),
            )
            waits.operation(
                t,
                f"compute cluster {c.name}",
                f"{verb} compute cluster {c.name}",
                lambda: t.ml.compute.begin_create_or_update(spec_cluster),
                read,
                "compute",
            )

        try:
            make(tier)
        except AzureError as exc:
            if not (cluster is None and tier == "low_priority" and c.fallback == "dedicated"):
                raise
            events.emit("progress", "compute", message=f"low-priority cluster refused ({exc}); creating it dedicated")
            tier = "dedicated"
            make(tier)
    detail = f"{c.name}: {c.sku}, {c.min_instances}..{c.max_instances} instances, {tier}{gpu_text}"
    return ComputeRecord(gpus=gpus, detail=detail)


def delete(t: AzureMLTarget, entry: dict) -> None:
    """Only a cluster this run created; a shared one stays (serverless leaves nothing)."""
    if t.spec.compute is None:
        return
    cluster = t.find("read the compute cluster", t.ml.compute.get, t.compute.name)
    if cluster is not None and is_ours(cluster, t.spec):
        t.azure(f"delete compute {cluster.name}", lambda: t.ml.compute.begin_delete(cluster.name).result())


HANDLER: StageHandler[AzureMLTarget] = StageHandler(observe, apply, delete, checks=checks)
