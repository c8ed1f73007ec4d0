"""The online deployment behind the endpoint, the traffic routed to it, and its smoke test.

A failed deployment or smoke test routes the deployment's traffic back to 0 %.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from orchestrator.errors import OrchestrateError
from orchestrator.events import Events
from orchestrator.plan import Observed, PlannedStage
from orchestrator.stages.base import short
from orchestrator.target import Ready, SmokeTestFailed, StageHandler, observe_recorded
from orchestrator.targets import dataprep, smoke
from orchestrator.targets.azureml import endpoint as endpoints
from orchestrator.targets.azureml import entities, quota
from orchestrator.targets.azureml.calls import AzureError
from orchestrator.targets.azureml.entities import is_ours, state_of, tagged_fingerprint
from orchestrator.targets.azureml.seen import UNREAD

if TYPE_CHECKING:
    from orchestrator.targets.azureml.target import AzureMLTarget


def observe(t: AzureMLTarget, fingerprint: str, cached: dict) -> Observed:
    d = t.spec.deployment
    if t.seen.endpoint is None or t.seen.endpoint is UNREAD:
        return Observed(False)
    deployment = t.find("read the deployment", t.ml.online_deployments.get, d.name, d.endpoint)
    if deployment is None:
        return Observed(False)
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


def apply(t: AzureMLTarget, planned: PlannedStage, events: Events, ready: Ready) -> dict:
    d = t.spec.deployment
    quota.check(t, [quota_need(t, endpoints.read(t))])  # an update may need more cores
    reg = {"name": t.spec.register_name, "version": short(t.prints["register"])}  # deterministic, as registered
    deployment = entities.deployment(t.spec, t.prints, model_ref=f"azureml:{reg['name']}:{reg['version']}")
    try:
        t.azure(
            f"deploy {d.endpoint}/{d.name}", lambda: t.ml.online_deployments.begin_create_or_update(deployment).result()
        )
    except AzureError as exc:
        logs = _logs(t)
        rolled = rollback_traffic(t)
        raise OrchestrateError(f"deployment {d.endpoint}/{d.name} failed: {exc}; {rolled}{logs}") from None
    return {
        "model": f"{reg['name']}:{reg['version']}",
        "detail": f"{d.endpoint}/{d.name}: {reg['name']}:{reg['version']} on {d.instance_count} x {d.sku}",
    }


def delete(t: AzureMLTarget, entry: dict) -> None:
    d = t.spec.deployment
    deployment = t.find("read the deployment", t.ml.online_deployments.get, d.name, d.endpoint)
    if deployment is None or not is_ours(deployment, t.spec):
        return
    endpoint = endpoints.read(t)
    if endpoint is not None and (endpoint.traffic or {}).get(d.name):
        rollback_traffic(t)  # Azure refuses to delete a deployment that takes traffic
    t.azure(f"delete deployment {d.name}", lambda: t.ml.online_deployments.begin_delete(d.name, d.endpoint).result())


def quota_need(t: AzureMLTarget, endpoint) -> quota.Need:
    """The deployment's instances with the upgrade reserve, less what it already holds when it
    exists with the same SKU (an update needs only the difference)."""
    d = t.spec.deployment
    held = 0
    if endpoint is not None:
        current = t.find("read the deployment", t.ml.online_deployments.get, d.name, d.endpoint)
        if current is not None and str(current.instance_type).lower() == str(d.sku).lower():
            held = quota.deployment_instances(current.instance_count or 0)
    return quota.Need("the deployment", str(d.sku), max(quota.deployment_instances(d.instance_count) - held, 0))


def _logs(t: AzureMLTarget) -> str:
    d = t.spec.deployment
    try:
        text = t.azure("read the deployment logs", t.ml.online_deployments.get_logs, d.name, d.endpoint, lines=5)
    except Exception:  # logs are a courtesy on top of the error itself
        return ""
    tail = " | ".join(line.strip() for line in str(text).splitlines()[-5:] if line.strip())
    return f"; last log lines: {tail}" if tail else ""


# --- traffic ---------------------------------------------------------------------------------------
def observe_traffic(t: AzureMLTarget, fingerprint: str, cached: dict) -> Observed:
    endpoint = t.seen.endpoint
    if endpoint is None or endpoint is UNREAD:
        return Observed(False)
    current = (endpoint.traffic or {}).get(t.spec.deployment.name, 0)
    if current == t.spec.deployment.traffic and current:
        return t.observed(True, fingerprint, cached, f"{t.spec.deployment.name}={current}%")
    return Observed(bool(current), "", None, note=f"{t.spec.deployment.name} has {current}%" if current else "")


def apply_traffic(t: AzureMLTarget, planned: PlannedStage, events: Events, ready: Ready) -> dict:
    d = t.spec.deployment
    endpoint = t.azure("read the endpoint", t.ml.online_endpoints.get, d.endpoint)
    traffic = {name: pct for name, pct in (endpoint.traffic or {}).items() if name != d.name}
    if sum(traffic.values()) + d.traffic > 100:
        traffic = {name: 0 for name in traffic}  # the spec's share wins; others give way
    endpoint.traffic = {**traffic, d.name: d.traffic}
    t.azure("route traffic", lambda: t.ml.online_endpoints.begin_create_or_update(endpoint).result())
    return {"detail": ", ".join(f"{n}={p}%" for n, p in endpoint.traffic.items())}


def rollback_traffic(t: AzureMLTarget) -> str:
    """Route no traffic to this run's deployment (smoke test or deployment failed)."""
    d = t.spec.deployment
    endpoint = endpoints.read(t)
    t.state.forget("traffic")
    if endpoint is None or not (endpoint.traffic or {}).get(d.name):
        return "no traffic was routed to it"
    endpoint.traffic = {**endpoint.traffic, d.name: 0}
    t.azure("roll traffic back", lambda: t.ml.online_endpoints.begin_create_or_update(endpoint).result())
    return f"traffic to {d.name} rolled back to 0%"


# --- smoke test ------------------------------------------------------------------------------------
def apply_smoke(t: AzureMLTarget, planned: PlannedStage, events: Events, ready: Ready) -> dict:
    splits = t.current("data", "splits") or {}
    if (
        isinstance(t.spec.smoke_test.sample_from, str)
        and not Path(splits.get(t.spec.smoke_test.sample_from, {}).get("path", "/nonexistent")).exists()
    ):
        splits = dataprep.prepare(t.spec, t.dir / "data" / short(t.prints["data"]))  # same seed, same rows
    messages = smoke.sample_messages(t.spec, splits)
    result = t.invoke(messages, t.spec.smoke_test.parameters)
    if result["status"] != 200 or not result.get("answer"):
        rolled = rollback_traffic(t)
        raise SmokeTestFailed(
            f"smoke test failed: HTTP {result['status']} {result.get('error', 'empty answer')[:200]}; {rolled}"
        )
    return {**result, "detail": f"HTTP 200 in {result['latency_ms']:.0f} ms: {result['answer'][:80]!r}"}


# Both read the endpoint that the endpoint stage's observe found (t.seen.endpoint).
HANDLER: StageHandler[AzureMLTarget] = StageHandler(observe, apply, delete, after=("endpoint",))
TRAFFIC: StageHandler[AzureMLTarget] = StageHandler(observe_traffic, apply_traffic, after=("endpoint",))
SMOKE_TEST: StageHandler[AzureMLTarget] = StageHandler(observe_recorded, apply_smoke)
