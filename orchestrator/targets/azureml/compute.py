"""The fine-tune cluster, and the read-only checks that run before anything billable."""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestrator.errors import OrchestrateError
from orchestrator.events import Events
from orchestrator.plan import Observed, PlannedStage
from orchestrator.rollout import deployment_name
from orchestrator.target import Ready, StageHandler, observe_recorded
from orchestrator.targets.azureml import deployment as deployments
from orchestrator.targets.azureml import model as base
from orchestrator.targets.azureml import quota
from orchestrator.targets.azureml.calls import AzureError
from orchestrator.targets.azureml.entities import is_ours, state_of, tagged_fingerprint, tags
from orchestrator.targets.azureml.seen import UNREAD

if TYPE_CHECKING:
    from orchestrator.targets.azureml.target import AzureMLTarget

# Computes with K80 GPUs cannot fine-tune (azureml-examples, when a model has no allow list).
UNSUPPORTED_FINETUNE = {"standard_nc6", "standard_nc12", "standard_nc24", "standard_nc24r"}


def observe(t: AzureMLTarget, fingerprint: str, cached: dict) -> Observed:
    if t.spec.compute is None:  # serverless: no cluster; the checks are recorded like a cluster would be
        return observe_recorded(t, fingerprint, cached)
    c = t.compute
    cluster = t.find("read the compute cluster", t.ml.compute.get, c.name)
    t.seen.compute = cluster
    if cluster is None:
        return Observed(False)
    if state_of(cluster.provisioning_state) == "Failed":
        return Observed(False, note=f"cluster {c.name} is in state Failed")
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


def apply(t: AzureMLTarget, planned: PlannedStage, events: Events, ready: Ready) -> dict:
    """Read-only checks first (nothing billable has started), then create or scale the cluster."""
    from azure.ai.ml.entities import AmlCompute

    d = t.spec.deployment
    field, sku = ("compute.sku", t.compute.sku) if t.spec.compute else ("finetune.instance_type", t.serverless_sku)
    model = t.state.stages()["model"] if t.current("model", "id") else base.apply(t, planned, events)
    base.check_allowed(t, field, sku, model.get("finetune_allow"), "finetune_compute_allow_list")
    if model.get("finetune_allow") is None and sku.lower() in UNSUPPORTED_FINETUNE:
        raise OrchestrateError(f"{field} {sku} has K80 GPUs, which cannot fine-tune; choose an A100 or V100 SKU")
    if d.sku:
        base.check_allowed(t, "deployment.sku", d.sku, model.get("inference_allow"), "inference_compute_allow_list")
    endpoint = t.seen.endpoint
    if endpoint is UNREAD:
        endpoint = t.find("read the endpoint", t.ml.online_endpoints.get, d.endpoint)
    if endpoint is not None and not is_ours(endpoint, t.spec):
        raise OrchestrateError(
            f"endpoint {d.endpoint} exists and was not created by run {t.spec.name} "
            "(its tags say otherwise); choose another deployment.endpoint"
        )
    gpus = None
    if t.spec.finetune.gpus_per_node == "auto":
        size = quota.sizes(t).get(sku.lower())
        if size is None:
            raise OrchestrateError(f"{field} {sku} is not offered in this workspace's region")
        gpus = size.gpus
        if not gpus:
            raise OrchestrateError(f"{field} {sku} has no GPU; fine-tuning needs a GPU SKU")
    needs = [quota.Need("the fine-tune", sku, t.spec.finetune.num_nodes)]
    if d.sku:
        needs.append(deployments.quota_need(t, endpoint, deployment_name(t.spec)))
    gpu_text = f", {gpus} GPU(s) per node" if gpus else ""
    if t.spec.compute is None:
        quota.check(t, needs)
        nodes = t.spec.finetune.num_nodes
        return {"gpus": gpus, "detail": f"serverless {sku}, {nodes} node{'s' if nodes != 1 else ''}{gpu_text}"}
    c = t.compute
    cluster = t.seen.compute
    if cluster is UNREAD:
        cluster = t.find("read the compute cluster", t.ml.compute.get, c.name)
    if cluster is not None and state_of(cluster.provisioning_state) == "Failed":
        raise OrchestrateError(
            f"compute cluster {c.name} is in provisioning state Failed; delete it or choose another compute.name"
        )
    if cluster is not None and (cluster.size or "").lower() != c.sku.lower():
        raise OrchestrateError(
            f"compute cluster {c.name} exists with size {cluster.size}, not {c.sku}; a cluster's size "
            "cannot change: choose another compute.name or delete the cluster"
        )
    _check_nodes(t, cluster)
    quota.check(t, needs)
    if cluster is not None and not is_ours(cluster, t.spec):
        # The spec's min/max describe a cluster the run creates; a shared one is left as it is.
        return {"gpus": gpus, "detail": shared_cluster(cluster) + gpu_text}
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
            t.azure(
                f"{verb} compute cluster {c.name}", lambda: t.ml.compute.begin_create_or_update(spec_cluster).result()
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
    return {"gpus": gpus, "detail": detail}


def _check_nodes(t: AzureMLTarget, cluster) -> None:
    """finetune.num_nodes must fit the cluster: the spec's max for a cluster this run makes (or
    scales), the live maximum for a shared one."""
    nodes, c = t.spec.finetune.num_nodes, t.compute
    shared = cluster is not None and not is_ours(cluster, t.spec)
    most = cluster.max_instances if shared else c.max_instances
    if nodes > most:
        where = f"existing cluster {c.name} scales to {most}" if shared else f"compute.max_instances is {most}"
        raise OrchestrateError(
            f"finetune.num_nodes is {nodes} but {where}: lower num_nodes or raise the cluster's maximum"
        )


def delete(t: AzureMLTarget, entry: dict) -> None:
    """Only a cluster this run created; a shared one stays (serverless leaves nothing)."""
    if t.spec.compute is None:
        return
    cluster = t.find("read the compute cluster", t.ml.compute.get, t.compute.name)
    if cluster is not None and is_ours(cluster, t.spec):
        t.azure(f"delete compute {cluster.name}", lambda: t.ml.compute.begin_delete(cluster.name).result())


HANDLER: StageHandler[AzureMLTarget] = StageHandler(observe, apply, delete)
