"""Waiting on what Azure is still doing, instead of acting over it.

A resource whose `provisioningState` is Creating, Updating, Scaling or Deleting has an operation in
progress: often one a killed apply started (a deployment's create takes minutes; the SDK's recorded
session test_online_deployment_create in Azure/azure-sdk-assets takes about 6.5 min for a small
model, and its PUT says `x-ms-async-operation-timeout: PT30M`). A PUT or DELETE over it is refused
with 409, and a rollback after that refusal would delete what the other apply is creating. So a
stage first waits for the operation to end (`settled`), then decides from what Azure shows; and a
409 that still comes is waited out the same way (`patiently`), up to Azure's own 30 minutes, not a
retry budget of seconds.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from orchestrator.errors import OrchestrateError
from orchestrator.targets.azureml.calls import AzureError
from orchestrator.targets.azureml.entities import state_of

if TYPE_CHECKING:
    from orchestrator.events import Events

T = TypeVar("T")
BUSY = frozenset({"Creating", "Updating", "Scaling", "Deleting", "Resizing"})
OPERATION_TIMEOUT = 30 * 60.0  # seconds: x-ms-async-operation-timeout PT30M, as recorded
POLL_SECONDS = 15.0  # between reads of a resource being changed; ORCHESTRATE_POLL_SECONDS overrides
SAY_EVERY = 60.0  # a progress line at least this often while the state stays the same


def poll_seconds(default: float = POLL_SECONDS) -> float:
    return float(os.environ.get("ORCHESTRATE_POLL_SECONDS", default))


def timeout() -> float:
    return float(os.environ.get("ORCHESTRATE_OPERATION_TIMEOUT", OPERATION_TIMEOUT))


def busy(resource: Any) -> str:
    """The operation in progress on `resource` ("" when none)."""
    state = state_of(getattr(resource, "provisioning_state", None)) if resource is not None else ""
    return state if state in BUSY else ""


def note(what: str, resource: Any) -> str:
    """What the plan says of a resource with an operation in progress ("" when none)."""
    state = busy(resource)
    return (
        f"{what} is {state} (an operation in progress on Azure): apply waits for it to end, then decides"
        if state
        else ""
    )


def settled(what: str, read: Callable[[], Any], events: Events | None, stage: str) -> Any:
    """`read()` once no operation is in progress on it (None when it is gone). Ctrl-C stops the
    wait and nothing else: the operation goes on on Azure and the next apply waits again."""
    started = time.monotonic()
    said, last = 0.0, ""
    while True:
        resource = read()
        state = busy(resource)
        if not state:
            if last and events is not None:
                done = state_of(resource.provisioning_state) if resource is not None else "gone"
                events.emit("progress", stage, message=f"{what}: {last} ended ({done}) after {_took(started)}")
            return resource
        elapsed = time.monotonic() - started
        if state != last or elapsed - said >= SAY_EVERY:
            if events is not None:
                events.emit(
                    "progress",
                    stage,
                    message=f"{what} is {state} (an operation in progress on Azure): waiting for it to end, "
                    f"{_took(started)} so far",
                )
            said, last = elapsed, state
        if elapsed >= timeout():
            raise OrchestrateError(
                f"{what} is still {state} after {_took(started)} (Azure's operation timeout is 30 min); "
                "nothing was changed or deleted: run `orchestrate apply` again once it ends"
            )
        time.sleep(poll_seconds())


def patiently(what: str, act: Callable[[], T], read: Callable[[], Any], events: Events | None, stage: str) -> T:
    """act() (a PUT or DELETE and its wait) after any operation in progress ends; a 409 that still
    comes (the operation began after the read) is waited out the same way, up to the timeout."""
    deadline = time.monotonic() + timeout()
    while True:
        settled(what, read, events, stage)
        try:
            return act()
        except AzureError as exc:
            if exc.status != 409 or time.monotonic() >= deadline:
                raise
            if events is not None:
                events.emit("progress", stage, message=f"{what}: Azure answers 409 ({exc.code}); waiting")
            time.sleep(poll_seconds())


def operation(t: Any, what: str, doing: str, begin: Callable[[], Any], read: Callable[[], Any], stage: str) -> Any:
    """An SDK long-running call (`begin()` returns its poller) made `patiently`, its 409 raised
    at once to be waited out; `doing` names it in an error ("delete deployment x")."""
    return patiently(
        what, lambda: t.azure(doing, lambda: begin().result(), retry_conflict=False), read, t.events, stage
    )


def _took(started: float) -> str:
    seconds = int(time.monotonic() - started)
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"
