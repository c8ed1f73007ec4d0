"""The managed online endpoint (key auth), and the teardown that deletes it after the smoke test."""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestrator import preflight
from orchestrator.errors import OrchestrateError
from orchestrator.events import Events
from orchestrator.kinds import KeepReason
from orchestrator.naming import deployment_name
from orchestrator.plan import Observed, PlannedStage
from orchestrator.preflight import Check
from orchestrator.records import EndpointRecord
from orchestrator.target import Ready, StageHandler
from orchestrator.targets.azureml import entities, waits
from orchestrator.targets.azureml.calls import AzureError
from orchestrator.targets.azureml.entities import is_ours, state_of, tagged_fingerprint
from orchestrator.targets.azureml.seen import UNREAD

if TYPE_CHECKING:
    from orchestrator.targets.azureml.target import AzureMLTarget


def read(t: AzureMLTarget):
    return t.find("read the endpoint", t.ml.online_endpoints.get, t.spec.deployment.endpoint)


def observe(t: AzureMLTarget, fingerprint: str, cached: dict) -> Observed:
    from orchestrator.targets.azureml.deployment import listed

    endpoint = read(t)
    t.seen.endpoint = endpoint
    t.seen.deployments = None
    if endpoint is None:
        return Observed(False)
    if not is_ours(endpoint, t.spec):
        return Observed(True, "", None, note="an endpoint of this name exists and was not created by this run")
    if state_of(endpoint.provisioning_state) == "Failed":
        return Observed(False, note="endpoint is in state Failed: apply updates it")
    if busy := waits.note("endpoint", endpoint):
        return Observed(False, note=busy)
    others = [d.name for d in listed(t) if not is_ours(d, t.spec)]
    if others and not t.force:
        kept = f"it also holds {', '.join(others)}, not made by this run (--force deletes it)"
        return t.observed(True, tagged_fingerprint(endpoint), cached, keep=KeepReason.SHARED, kept=kept)
    return t.observed(True, tagged_fingerprint(endpoint), cached)


def apply(t: AzureMLTarget, planned: PlannedStage, events: Events, ready: Ready) -> EndpointRecord:
    # Two steps: Azure accepts or refuses the name on the PUT itself (names are unique per region,
    # and no operation tells beforehand); the fine-tune submits its job only once it was accepted,
    # so whatever happens before that answer is handed to the fine-tune too.
    accepted = t.seen.endpoint_accepted
    what = f"endpoint {t.spec.deployment.endpoint}"
    try:
        current = read(t)
        if current is not None and is_ours(current, t.spec):
            _accept(accepted)  # the name is this run's already
        if waits.busy(current):  # a killed apply's create or update: waited out, never PUT over
            current = waits.settled(what, lambda: read(t), events, "endpoint")
        if (
            current is not None
            and is_ours(current, t.spec)
            and state_of(current.provisioning_state) == "Succeeded"
            and tagged_fingerprint(current) == planned.fingerprint
        ):
            events.emit("progress", "endpoint", message=f"{what} was made by an earlier apply: kept as it is")
            return EndpointRecord(
                scoring_uri=current.scoring_uri, detail=f"{current.name} (key auth) {current.scoring_uri}"
            )
        name, poller = waits.patiently(what, lambda: _put(t), lambda: read(t), events, "endpoint")
    except BaseException as exc:
        if not accepted.done():
            accepted.set_exception(exc if isinstance(exc, Exception) else OrchestrateError("interrupted"))
        raise
    _accept(accepted)
    result = t.azure(f"create endpoint {name}", poller.result, attempts=1)  # the PUT was retried, not its wait
    return EndpointRecord(scoring_uri=result.scoring_uri, detail=f"{name} (key auth) {result.scoring_uri}")


def _accept(accepted) -> None:
    if not accepted.done():
        accepted.set_result(True)


def _put(t: AzureMLTarget):
    """(name, poller) of the endpoint's PUT, once Azure answered it."""
    current = read(t)
    if current is not None and not is_ours(current, t.spec):
        raise OrchestrateError(f"endpoint {t.spec.deployment.endpoint} exists and was not created by run {t.spec.name}")
    traffic = dict(current.traffic or {}) if current is not None else None  # an update keeps the routes
    endpoint = entities.endpoint(t.spec, t.prints, traffic=traffic)
    try:
        poller = t.azure(
            f"create endpoint {endpoint.name}",
            t.ml.online_endpoints.begin_create_or_update,
            endpoint,
            retry_conflict=False,
        )
    except AzureError as exc:
        if exc.status == 409:
            raise  # an operation in progress: waited out by the caller
        raise _taken(endpoint.name, exc) from None
    except OrchestrateError as exc:
        raise _taken(endpoint.name, exc) from None
    return endpoint.name, poller


# What Azure answers a PUT of a name another endpoint in the region holds (the validation error the
# SDK's users quote: azureml-examples PR #1931, Azure/mlops-project-template #29).
TAKEN = "already an endpoint with this name"


def _taken(name: str, exc: OrchestrateError) -> OrchestrateError:
    if TAKEN not in str(exc).lower():
        return exc
    return OrchestrateError(
        f"endpoint name {name} is taken in this region (endpoint names are unique per Azure region, across "
        "subscriptions): set deployment.endpoint to another name"
    )


def delete(t: AzureMLTarget, entry: dict) -> None:
    endpoint = read(t)
    if endpoint is not None and is_ours(endpoint, t.spec):
        waits.operation(
            t,
            f"endpoint {endpoint.name}",
            f"delete endpoint {endpoint.name}",
            lambda: t.ml.online_endpoints.begin_delete(endpoint.name),
            lambda: read(t),
            "endpoint",
        )


def checks(t: AzureMLTarget) -> list[Check]:
    """Who owns the endpoint, and whether the split the rollout ends on is one Azure accepts:
    traffic sums to 0 or 100 ("The total traffic percentage must sum to either 0% ... or 100%",
    azure-ai-docs how-to-safely-rollout-online-endpoints)."""
    from orchestrator.targets.azureml.deployment import served

    d, endpoint = t.spec.deployment, t.seen.endpoint
    out = []
    if endpoint is UNREAD:
        endpoint = t.seen.endpoint = read(t)
    if endpoint is not None and not is_ours(endpoint, t.spec):
        out.append(
            preflight.fail(
                "endpoint",
                f"endpoint {d.endpoint} exists and was not created by run {t.spec.name} (its tags say otherwise); "
                "choose another deployment.endpoint",
            )
        )
        return out
    candidate = deployment_name(t.spec)
    others = [s for s in (served(t, fresh=False) if endpoint is not None else []) if s.name != candidate and s.traffic]
    total = d.traffic + sum(s.traffic for s in others)
    rest = ", ".join(f"{s.name} {s.traffic}%" for s in others)
    if 0 < total < 100:
        beside = f" with {rest}" if rest else ""
        out.append(
            preflight.fail(
                "traffic",
                f"deployment.traffic {d.traffic} leaves the endpoint's traffic at {total}%{beside}; Azure accepts "
                "a split that sums to 0 or 100: set deployment.traffic to 100 (or to what the other deployments leave)",
            )
        )
    else:
        split = f"{candidate} {d.traffic}%" + (f"; the rest stays with {rest}" if rest and d.traffic < 100 else "")
        out.append(preflight.ok("traffic", f"the rollout ends on {split}"))
    return out


HANDLER: StageHandler[AzureMLTarget] = StageHandler(observe, apply, delete, checks=checks)
