"""The third target's stages: each resource stage writes its entry to resources.json, and the
endpoint is a router over that file (traffic, per-deployment request counts). The shared stages
(smoke_test, traffic, teardown) are the core's; this module has no handler for them."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from typing import Any

from orchestrator import dataprep
from orchestrator.events import Events
from orchestrator.naming import Served, deployment_name
from orchestrator.plan import Observed, PlannedStage
from orchestrator.records import RegisterRecord
from orchestrator.state import atomic_write
from orchestrator.target import BaseTarget, Ready, StageHandler


class ThirdTarget(BaseTarget):
    name = "third"

    def __init__(self, spec, root=None, credential: str | None = None):
        super().__init__(spec, root, credential)
        self.file = self.dir / "resources.json"

    # The store: {"made": {stage: record}, "endpoint": bool, "deployments": {name: {...}}}
    def read(self) -> dict[str, Any]:
        if not self.file.exists():
            return {"made": {}, "endpoint": False, "deployments": {}}
        return json.loads(self.file.read_text(encoding="utf-8"))

    def write(self, store: Mapping[str, Any]) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        atomic_write(self.file, json.dumps(store, indent=2))

    def lock(self, force: bool = False):
        return contextlib.nullcontext()

    def scoring_uri(self) -> str:
        return f"memory://{self.spec.deployment.endpoint}/score"

    # The router
    def deployments(self) -> list[Served]:
        store = self.read()
        return [
            Served(name, d["ours"], d["traffic"], d["mirror"], d["model"])
            for name, d in sorted(store["deployments"].items())
        ]

    def routed(self) -> list[Served] | None:
        return self.deployments() if self.read()["endpoint"] else None

    def set_traffic(self, traffic: Mapping[str, int], mirror: Mapping[str, int]) -> None:
        store = self.read()
        for name, d in store["deployments"].items():
            d["traffic"], d["mirror"] = traffic.get(name, 0), mirror.get(name, 0)
        self.write(store)

    def invoke(self, messages: list[dict], parameters: dict, deployment: str | None = None) -> dict:
        store = self.read()
        live = store["deployments"]
        name = deployment or max(live, key=lambda n: live[n]["traffic"], default=None)
        if not store["endpoint"] or name not in live:
            return {"status": 404, "error": f"no deployment {name}", "latency_ms": 0.0}
        live[name]["requests"] += 1
        self.write(store)
        return {"status": 200, "answer": f"{live[name]['model']} heard you", "latency_ms": 1.0}

    def delete_deployment(self, name: str) -> None:
        store = self.read()
        store["deployments"].pop(name, None)
        self.write(store)

    def deployment_logs(self, name: str) -> str:
        return ""

    def served(self, name: str) -> tuple[int, int] | None:
        d = self.read()["deployments"].get(name)
        return (d["requests"], 0) if d else None


def _made(stage: str, **extra) -> StageHandler[ThirdTarget]:
    def observe(t: ThirdTarget, fingerprint: str, cached: dict) -> Observed:
        made = t.read()["made"].get(stage)
        return Observed(False) if made is None else t.observed(True, made["fingerprint"], cached)

    def apply(t: ThirdTarget, planned: PlannedStage, events: Events, ready: Ready) -> dict:
        store = t.read()
        record = {"detail": f"{stage} made", **_work(t, store, stage, planned)}
        store["made"][stage] = {"fingerprint": planned.fingerprint}
        t.write(store)
        return record

    def destroy(t: ThirdTarget, entry: dict) -> None:
        store = t.read()
        store["made"].pop(stage, None)
        if stage == "endpoint":
            store["endpoint"], store["deployments"] = False, {}
        if stage == "deployment":
            store["deployments"] = {n: d for n, d in store["deployments"].items() if not d["ours"]}
        t.write(store)

    return StageHandler(observe, apply, destroy, **extra)


def _work(t: ThirdTarget, store: dict, stage: str, planned: PlannedStage) -> dict:
    """What a stage makes beyond its entry (the splits, a model version, the router's entries),
    written into `store`; returns what its record adds."""
    if stage == "data":
        return {"splits": dataprep.prepare(t.spec, t.dir / "data" / planned.fingerprint[:12])}
    if stage == "register":
        return {"name": t.spec.register_name, "version": "1"}
    if stage == "endpoint":
        store["endpoint"] = True
    if stage == "deployment":
        reg = t.record(RegisterRecord)
        name = deployment_name(t.spec)
        entry = {"ours": True, "traffic": 0, "mirror": 0, "model": reg.ref, "requests": 0}
        store["deployments"][name] = entry
        return {"deployment": name}
    return {}


ThirdTarget.handlers = {
    stage: _made(stage) for stage in ("data", "model", "compute", "finetune", "register", "endpoint", "deployment")
}
