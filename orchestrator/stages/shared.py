"""The stages every target runs the same way: the gates, the traffic and the teardown.

They drive the endpoint through the target's router (target.Router, rollout.py) and its destroy,
so a target implements only the stages that make its resources. `BaseTarget.handler` takes a stage's
handler from here when the target has none of its own.
"""

from __future__ import annotations

from orchestrator import dataprep, rollout
from orchestrator.events import Events
from orchestrator.plan import Observed, PlannedStage
from orchestrator.records import DataRecord, SmokeRecord, TeardownRecord, TrafficRecord
from orchestrator.stages import BY_NAME
from orchestrator.stages.base import short
from orchestrator.target import Ready, StageHandler, Target, observe_recorded


def apply_smoke_test(t: Target, planned: PlannedStage, events: Events, ready: Ready) -> SmokeRecord:
    """The gates on the data stage's splits; written again (same seed, same rows) when the recorded
    ones are not this fingerprint's or are gone from this machine (an apply from another one)."""
    splits = t.current(DataRecord).splits or {}
    if not dataprep.splits_exist(splits):
        splits = dataprep.prepare(t.spec, t.dir / "data" / short(t.prints["data"]))
    return rollout.gates(t, t.spec, splits, events)


def observe_traffic(t: Target, fingerprint: str, cached: dict) -> Observed:
    deployments = t.routed()
    if deployments is None:  # no endpoint: no route yet
        return Observed(False)
    return rollout.observe_traffic(t.spec, deployments, fingerprint, lambda: t.observed(True, fingerprint, cached))


def apply_traffic(t: Target, planned: PlannedStage, events: Events, ready: Ready) -> TrafficRecord:
    return rollout.apply_traffic(t, t.spec, events)


def apply_teardown(t: Target, planned: PlannedStage, events: Events, ready: Ready) -> TeardownRecord:
    """The endpoint is deleted, and what runs behind it goes with it (on Azure as on this machine):
    the other stages it deletes are forgotten."""
    first, *rest = BY_NAME["teardown"].deletes
    t.destroy_stage(first)
    for name in rest:
        t.state.forget(name)
    return TeardownRecord(detail=f"endpoint {t.spec.deployment.endpoint} deleted")


HANDLERS: dict[str, StageHandler[Target]] = {
    "smoke_test": StageHandler(observe_recorded, apply_smoke_test),
    # It reads the deployments the endpoint's and the deployment's observe found.
    "traffic": StageHandler(observe_traffic, apply_traffic, after=("endpoint", "deployment")),
    "teardown": StageHandler(observe_recorded, apply_teardown),
}
