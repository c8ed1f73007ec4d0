"""A target that makes nothing: it records what the executor asks of it, in memory and on disk.

For testing the executor and the target contract without torch, azure or a network.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from orchestrator.errors import OrchestrateError
from orchestrator.events import Events
from orchestrator.naming import Served
from orchestrator.plan import PlannedStage
from orchestrator.stages import STAGES
from orchestrator.target import BaseTarget, Ready, StageHandler, observe_recorded


class FakeTarget(BaseTarget):
    """`behaviour[stage](target, ready)` replaces a stage's apply: raise to fail it, block to hold it."""

    name = "fake"

    def __init__(self, spec, root, behaviour: dict[str, Callable] | None = None):
        super().__init__(spec, root)
        self.behaviour = behaviour or {}
        self.calls: list[str] = []  # "apply data", "destroy endpoint", ... in the order they happened
        self.lock_ = threading.Lock()

    def note(self, call: str) -> None:
        with self.lock_:
            self.calls.append(call)

    def lock(self, force: bool = False):
        import contextlib

        return contextlib.nullcontext()

    def left_running(self, stage: str, alongside: Sequence[str] = ()) -> str:
        return " and ".join(f"{name} goes on" for name in alongside)

    def invoke(self, messages: list[dict], parameters: dict, deployment: str | None = None) -> dict:
        return {"status": 200, "answer": "ok", "latency_ms": 1.0}

    # The router: an endpoint with no deployment (the executor tests do not roll out).
    def deployments(self) -> list[Served]:
        return []

    def set_traffic(self, traffic, mirror) -> None:
        self.note(f"route {dict(traffic)}")

    def delete_deployment(self, name: str) -> None:
        self.note(f"delete deployment {name}")

    def deployment_logs(self, name: str) -> str:
        return ""

    def served(self, name: str) -> tuple[int, int] | None:
        return None

    def scoring_uri(self) -> str:
        return "http://127.0.0.1:1/score"


def _apply(name: str):
    def apply(t: FakeTarget, planned: PlannedStage, events: Events, ready: Ready) -> dict:
        t.note(f"apply {name}")
        if name in t.behaviour:
            t.behaviour[name](t, ready)
        else:
            ready()
        return {"detail": f"{name} made"}

    return apply


def _destroy(name: str):
    def destroy(t: FakeTarget, entry: dict) -> None:
        t.note(f"destroy {name}")

    return destroy


FakeTarget.handlers = {s.name: StageHandler(observe_recorded, _apply(s.name), _destroy(s.name)) for s in STAGES}


def fail(message: str) -> Callable:
    def behaviour(t: FakeTarget, ready: Ready) -> None:
        raise OrchestrateError(message)

    return behaviour
