"""Execute a plan on a target, stage by stage, with events; destroy is apply in destroy mode."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future

from orchestrator.errors import OrchestrateError
from orchestrator.events import Events
from orchestrator.kinds import PlanMode
from orchestrator.plan import DELETE, SKIP, Plan, PlannedStage
from orchestrator.stages import BY_NAME
from orchestrator.target import Target


class Interrupted(OrchestrateError):
    exit_code = 130


def read_saved_plan(path: str) -> dict:
    """A plan saved by `plan --out`, checked to be one."""
    import json
    from pathlib import Path

    from orchestrator.plan import FORMAT_VERSION

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise OrchestrateError(f"{path}: file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise OrchestrateError(
            f"{path} is not a saved plan (not JSON); pass a spec .yaml or a `plan --out` file"
        ) from None
    if not isinstance(data, dict) or data.get("format_version") != FORMAT_VERSION or "stages" not in data:
        raise OrchestrateError(
            f"{path} is not a plan saved by this version of orchestrate (format_version {FORMAT_VERSION})"
        )
    if data.get("mode") != PlanMode.APPLY:
        raise OrchestrateError(f"{path} is a {data.get('mode')} plan; apply takes apply plans")
    return data


def check_saved_plan(saved: dict, fresh: Plan) -> None:
    """Refuse a saved plan whose spec or observed state no longer matches (dstack/Terraform habit)."""
    if saved["spec_digest"] != fresh.spec_digest:
        raise OrchestrateError(f"{saved['spec_path']} changed since the plan was saved; run `orchestrate plan` again")
    if not fresh.observed or saved.get("observed_digest") != fresh.observed_digest:
        raise OrchestrateError("the target's state changed since the plan was saved; run `orchestrate plan` again")
    planned = [(s["name"], s["action"], s["fingerprint"]) for s in saved["stages"]]
    if planned != [(s.name, s.action, s.fingerprint) for s in fresh.stages]:
        raise OrchestrateError(
            "the saved plan's stages differ from what apply would do now; run `orchestrate plan` again"
        )


def execute(target: Target, plan: Plan, events: Events) -> dict[str, dict]:
    """Run every stage the plan does not skip, in order; return the records written.

    A stage declared `alongside` another (the endpoint, alongside the fine-tune) starts in a thread
    as soon as that stage calls its `ready()`, and is waited for when the loop reaches it. After a
    failure, what runs alongside is waited for and reported before the error goes up, so the state
    knows everything that exists.
    """
    try:
        return _Execution(target, plan, events).run()
    finally:
        events.close()  # a live display gives the terminal back, whatever happened


class _Execution:
    def __init__(self, target: Target, plan: Plan, events: Events):
        self.target, self.plan, self.events = target, plan, events
        self.alongside: dict[str, Future] = {}  # stage -> its result, running in a thread
        self.started: dict[str, float] = {}  # when each stage alongside started
        self.ended: dict[str, float] = {}  # and when it ended (its thread's last moment)

    def run(self) -> dict[str, dict]:
        done: dict[str, dict] = {}
        for stage in self.plan.stages:
            if stage.action == SKIP:
                self.events.emit("skipped", stage.name, message=f"up to date ({stage.resource})")
                continue
            self.events.emit("started", stage.name, action=stage.action, resource=stage.resource)
            started = time.monotonic()
            try:
                record = self._run_stage(stage)
            except KeyboardInterrupt as exc:
                raise self._interrupted(stage, getattr(exc, "done", "")) from None
            except OrchestrateError as exc:
                self.events.emit("error", stage.name, message=str(exc))
                self._settle()
                raise
            done[stage.name] = record
            seconds = self.ended.pop(stage.name, time.monotonic()) - self.started.pop(stage.name, started)
            self._remember(stage, seconds)
            self.events.emit("finished", stage.name, seconds=seconds, detail=record.get("detail", ""))
        return done

    def _remember(self, stage: PlannedStage, seconds: float) -> None:
        """The stage's wall time beside its record (`orchestrate report` shows it)."""
        state = getattr(self.target, "state", None)
        if self.plan.mode == PlanMode.DESTROY or state is None:
            return
        entry = state.stages().get(stage.name)
        if entry is not None and entry.get("fingerprint") == stage.fingerprint:
            state.record(stage.name, {**entry, "seconds": round(seconds, 1)})

    def _run_stage(self, stage: PlannedStage) -> dict:
        if stage.name in self.alongside:
            return self.alongside.pop(stage.name).result()
        if self.plan.mode == PlanMode.DESTROY and stage.action == DELETE:
            self.target.destroy_stage(stage.name)
            return {"detail": "deleted"}
        return self.target.apply_stage(stage, self.events, lambda: self._start_alongside(stage.name))

    def _start_alongside(self, of: str) -> list[str]:
        """Start, each in a thread, the planned stages declared to run alongside `of`; their names."""
        started = []
        for stage in self.plan.stages:
            if BY_NAME[stage.name].alongside != of or stage.action == SKIP or stage.name in self.alongside:
                continue
            self.events.emit("progress", stage.name, message=f"started alongside the {of}: {stage.resource}")
            run = functools.partial(self._timed, stage)
            self.started[stage.name] = time.monotonic()
            self.alongside[stage.name] = in_thread(run, f"orchestrate-{stage.name}")
            started.append(stage.name)
        return started

    def _timed(self, stage: PlannedStage) -> dict:
        try:
            return self.target.apply_stage(stage, self.events)
        finally:
            self.ended[stage.name] = time.monotonic()

    def _settle(self) -> None:
        """After a failed stage: wait for what runs alongside, report it, raise nothing (the first
        failure is the error the user gets)."""
        for name, future in list(self.alongside.items()):
            del self.alongside[name]
            try:
                record = future.result()
            except Exception as exc:
                self.events.emit("error", name, message=str(exc))
                continue
            seconds = time.monotonic() - self.started[name]
            self.events.emit("finished", name, seconds=seconds, detail=record.get("detail", ""))

    def _interrupted(self, stage: PlannedStage, done: str = "") -> Interrupted:
        """`done`: what the stage itself did about the interrupt (a rollout gave the traffic back)."""
        still = [name for name, future in self.alongside.items() if not future.done()]
        running = done or self.target.left_running(stage.name, still)
        command = "destroy" if self.plan.mode == PlanMode.DESTROY else "apply"
        return Interrupted(
            f"interrupted during {stage.name}{'; ' + running if running else ''}; finished stages are "
            f"recorded and `orchestrate {command}` resumes from there"
        )


def in_thread(fn: Callable[[], dict], name: str) -> Future:
    """fn's result as a Future, computed in a daemon thread: Ctrl-C must not wait for it (the
    resource goes on being made in the cloud, and the next apply finds it)."""
    future: Future = Future()

    def run() -> None:
        try:
            future.set_result(fn())
        except BaseException as exc:  # handed to the main thread when it reaches the stage
            future.set_exception(exc)

    threading.Thread(target=run, daemon=True, name=name).start()
    return future
