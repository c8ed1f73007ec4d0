"""The online deployments behind the endpoint, their traffic, and the endpoint's router primitives.

blue_green (rollout.py): the deployment stage makes the candidate at 0 % traffic beside the
serving one; the smoke test and the traffic steps are the core's, driven through
`AzureMLTarget.deployments / set_traffic / invoke / delete_deployment`, implemented here. A
deployment that fails to become healthy is deleted (it bills) unless `--keep-failed`; the serving
one never lost its traffic. in_place keeps the one deployment of the spec's name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from orchestrator import preflight, rollout
from orchestrator.errors import OrchestrateError
from orchestrator.events import Events
from orchestrator.naming import Served, deployment_name
from orchestrator.plan import Observed, PlannedStage
from orchestrator.records import DeploymentRecord
from orchestrator.target import Ready, StageHandler
from orchestrator.targets.azureml import endpoint as endpoints
from orchestrator.targets.azureml import entities, quota, register, waits
from orchestrator.targets.azureml.calls import AzureError
from orchestrator.targets.azureml.entities import is_ours, state_of, tagged_fingerprint
from orchestrator.targets.azureml.seen import UNREAD

if TYPE_CHECKING:
    from orchestrator.targets.azureml.target import AzureMLTarget


def listed(t: AzureMLTarget) -> list:
    """The endpoint's deployments (SDK objects), read once per observe (the endpoint's observe
    reads them) and again after any change."""
    if t.seen.deployments is None:
        t.seen.deployments = list(
            t.azure("list the deployments", t.ml.online_deployments.list, t.spec.deployment.endpoint)
        )
    return t.seen.deployments


def served(t: AzureMLTarget, fresh: bool = True) -> list[Served]:
    """Every deployment behind the endpoint with its traffic and mirror, as Azure shows them now."""
    if fresh:
        t.seen.deployments = None
        t.seen.endpoint = endpoints.read(t)
    found = t.seen.endpoint
    if found is None or found is UNREAD:
        return []
    traffic, mirror = dict(found.traffic or {}), dict(getattr(found, "mirror_traffic", None) or {})
    return [
        Served(
            d.name,
            is_ours(d, t.spec),
            int(traffic.get(d.name, 0)),
            int(mirror.get(d.name, 0)),
            str(d.model or "").rsplit("/models/", 1)[-1],
            state_of(d.provisioning_state),
        )
        for d in listed(t)
    ]


def observe(t: AzureMLTarget, fingerprint: str, cached: dict) -> Observed:
    d = t.spec.deployment
    if t.seen.endpoint is None or t.seen.endpoint is UNREAD:
        return Observed(False)
    name = deployment_name(t.spec)
    deployment = next((x for x in listed(t) if x.name == name), None)
    if deployment is None:
        current = rollout.serving(served(t, fresh=False), name)
        beside = f"create beside {current.name} (serving {current.traffic}%)" if current else ""
        return Observed(False, note=beside)
    if busy := waits.note("deployment", deployment):
        return Observed(False, note=busy)
    if state_of(deployment.provisioning_state) != "Succeeded":
        return Observed(False, note=f"deployment is {state_of(deployment.provisioning_state)}: apply updates it")
    drift = [
        f"{label} is {actual} on Azure, {wanted} in the spec"
        for label, actual, wanted in (
            ("instance_count", deployment.instance_count, d.instance_count),
            ("sku", deployment.instance_type, d.sku),
        )
        if str(actual).lower() != str(wanted).lower()
    ]
    if drift:
        return Observed(True, "", None, note="drift: " + "; ".join(drift))
    return t.observed(True, tagged_fingerprint(deployment), cached)


def read(t: AzureMLTarget, name: str):
    return t.find("read the deployment", t.ml.online_deployments.get, name, t.spec.deployment.endpoint)


def apply(t: AzureMLTarget, planned: PlannedStage, events: Events, ready: Ready) -> DeploymentRecord:
    d = t.spec.deployment
    name = deployment_name(t.spec)
    what = f"deployment {d.endpoint}/{name}"
    model = f"{t.spec.register_name}:{register.version(t)}"
    done = DeploymentRecord(
        deployment=name,
        detail=f"{d.endpoint}/{name}: {model} on {d.instance_count} x {d.sku}",
        extra={"model": model},
    )
    # An operation in progress (a killed apply's create) is waited out, never PUT over: then what
    # it made decides. The same deployment, made: nothing to do.
    current = waits.settled(what, lambda: read(t, name), events, "deployment")
    if current is not None and _made_as_planned(t, current, planned.fingerprint):
        events.emit("progress", "deployment", message=f"{what} was made by an earlier apply: kept as it is")
        return done
    # Checked in the pre-flight; again now, since the fine-tune took hours and the quota is shared.
    t.seen.deployments = None  # as they are now
    preflight.refuse([quota.check(t, [quota_need(t, endpoints.read(t), name)])])
    deployment = entities.deployment(t.spec, t.prints, name=name, model_ref=f"azureml:{model}")
    try:
        waits.operation(
            t,
            what,
            f"deploy {d.endpoint}/{name}",
            lambda: t.ml.online_deployments.begin_create_or_update(deployment),
            lambda: read(t, name),
            "deployment",
        )
    except AzureError as exc:
        if exc.status == 409:  # still busy after Azure's timeout: another operation's, not ours to delete
            raise OrchestrateError(f"{what} failed: {exc}; nothing was deleted") from None
        undone = rollout.rollback(t, name, None, delete=d.rollout.blue_green)
        raise OrchestrateError(f"{what} failed: {exc}; {undone}") from None
    return done


def _made_as_planned(t: AzureMLTarget, current, fingerprint: str) -> bool:
    d = t.spec.deployment
    return (
        state_of(current.provisioning_state) == "Succeeded"
        and tagged_fingerprint(current) == fingerprint
        and str(current.instance_count) == str(d.instance_count)
        and str(current.instance_type).lower() == str(d.sku).lower()
    )


def delete(t: AzureMLTarget, entry: dict) -> None:
    """Every deployment this run made: their traffic to 0 first (Azure refuses to delete a
    deployment that takes traffic); others' deployments keep theirs."""
    ours = [s for s in served(t) if s.ours]
    if any(s.traffic or s.mirror for s in ours):
        set_traffic(t, rollout.without(served(t, fresh=False), {s.name for s in ours}), {})
    for s in ours:
        delete_deployment(t, s.name)


def quota_need(t: AzureMLTarget, endpoint, name: str) -> quota.Need:
    """The deployment's instances with the upgrade reserve, less what it already holds when it
    exists with the same SKU (a scale change needs only the difference; a new one, all of it)."""
    d = t.spec.deployment
    held = 0
    if endpoint is not None:
        current = next((x for x in listed(t) if x.name == name), None)  # observe listed them
        if current is not None and str(current.instance_type).lower() == str(d.sku).lower():
            held = quota.deployment_instances(current.instance_count or 0)
    return quota.Need("the deployment", str(d.sku), max(quota.deployment_instances(d.instance_count) - held, 0))


# --- the router primitives (target.Router) -------------------------------------------------------------
def set_traffic(t: AzureMLTarget, traffic: Mapping[str, int], mirror: Mapping[str, int]) -> None:
    endpoint = t.spec.deployment.endpoint

    def route():
        found = t.azure("read the endpoint", t.ml.online_endpoints.get, endpoint)
        found.traffic = dict(traffic)
        found.mirror_traffic = dict(mirror)
        t.azure(
            "route traffic", lambda: t.ml.online_endpoints.begin_create_or_update(found).result(), retry_conflict=False
        )
        return found

    t.seen.endpoint = waits.patiently(f"endpoint {endpoint}", route, lambda: endpoints.read(t), t.events, "traffic")


def delete_deployment(t: AzureMLTarget, name: str) -> None:
    endpoint = t.spec.deployment.endpoint
    waits.operation(
        t,
        f"deployment {endpoint}/{name}",
        f"delete deployment {name}",
        lambda: t.ml.online_deployments.begin_delete(name, endpoint),
        lambda: read(t, name),
        "deployment",
    )
    t.seen.deployments = None


def logs(t: AzureMLTarget, name: str) -> str:
    try:
        text = t.azure(
            "read the deployment logs", t.ml.online_deployments.get_logs, name, t.spec.deployment.endpoint, lines=5
        )
    except Exception:  # logs are a courtesy on top of the error itself
        return ""
    return " | ".join(line.strip() for line in str(text).splitlines()[-5:] if line.strip())


# It reads the endpoint that the endpoint stage's observe found (t.seen.endpoint).
HANDLER: StageHandler[AzureMLTarget] = StageHandler(observe, apply, delete, after=("endpoint",))
