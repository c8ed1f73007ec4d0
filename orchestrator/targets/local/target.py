"""The local target: observe and apply each stage on this machine, state under .orchestrate/<run>/.

One function per stage behind a name -> function table; each returns the record written to the
state file once its effect exists (so a killed apply resumes at the first unrecorded stage).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from orchestrator import dataprep, extras, metrics, rollout, smoke
from orchestrator.errors import OrchestrateError
from orchestrator.events import Events
from orchestrator.naming import Served, deployment_name
from orchestrator.plan import Observed, PlannedStage
from orchestrator.records import (
    ComputeRecord,
    DataRecord,
    DeploymentRecord,
    EndpointRecord,
    FinetuneRecord,
    ModelRecord,
    RegisterRecord,
)
from orchestrator.state import atomic_write
from orchestrator.target import BaseTarget, Ready, StageHandler, not_ready, observe_recorded
from orchestrator.targets.local import endpoint


class LocalTarget(BaseTarget):
    name = "local"
    parallel = False  # a fine-tune takes every core: two runs take turns

    def left_running(self, stage: str, alongside: Sequence[str] = ()) -> str:
        """What an interrupt leaves running: the endpoint's router and the deployments' processes."""
        running = [
            f"{name} (pid {e['pid']})" for name, e in endpoint.processes(self).items() if endpoint.alive(e["pid"])
        ]
        if endpoint.router_port(self):
            running.insert(0, "the endpoint's router")
        return f"{', '.join(running)} keep running" if running else ""

    def lock(self, force: bool = False):
        """The flock under .orchestrate/ (taken by the CLI) is the whole lock here."""
        import contextlib

        return contextlib.nullcontext()

    def apply_stage(self, planned: PlannedStage, events: Events, ready: Ready = not_ready) -> dict:
        try:
            return super().apply_stage(planned, events, ready)
        except ImportError as exc:
            error = extras.missing(exc, f"stage {planned.name}", target="local")
            if error is None:
                raise
            raise error from None

    # --- the endpoint: its key, its router and the deployments behind it ----------------------------
    def key(self) -> str:
        return (self.dir / "endpoint.key").read_text().strip()

    def invoke(self, messages: list[dict], parameters: dict, deployment: str | None = None) -> dict:
        return smoke.invoke(
            self.scoring_uri(),
            self.key(),
            messages,
            parameters,
            timeout_s=self.spec.deployment.timeout_ms / 1000 + 5,
            deployment=deployment,
        )

    def scoring_uri(self) -> str:
        port = endpoint.router_port(self)
        if not port:
            raise OrchestrateError(f"run {self.spec.name} has no live endpoint; run `orchestrate apply` first")
        return f"http://127.0.0.1:{port}/score"

    def deployments(self) -> list[Served]:
        return endpoint.served(self)

    def routed(self) -> list[Served] | None:
        return self.deployments() if endpoint.router_port(self) else None

    def set_traffic(self, traffic: Mapping[str, int], mirror: Mapping[str, int]) -> None:
        endpoint.set_traffic(self, traffic, mirror)

    def delete_deployment(self, name: str) -> None:
        endpoint.delete_deployment(self, name)

    def deployment_logs(self, name: str) -> str:
        return endpoint.logs(self, name)

    def model_metrics(self, ref: str) -> dict[str, float]:
        from orchestrator.targets.local import registry

        name, version = metrics.split_ref(ref)
        return metrics.from_tags(registry.version_tags(self.root, name, version)) if name and version else {}

    def served(self, name: str) -> tuple[int, int] | None:
        return endpoint.counts(self, name)


def _run_data(t: LocalTarget, planned: PlannedStage, events: Events, ready: Ready) -> DataRecord:
    out = t.dir / "data" / planned.fingerprint[:12]
    splits = dataprep.prepare(t.spec, out)
    rows = ", ".join(f"{role} {info['rows']} rows" for role, info in sorted(splits.items()))
    return DataRecord(splits=splits, detail=rows)


def _run_model(t: LocalTarget, planned: PlannedStage, events: Events, ready: Ready) -> ModelRecord:
    from orchestrator.targets.local.model_source import resolve

    spec_dir = Path(t.spec.source_path).parent if t.spec.source_path else Path(".")
    folder = resolve(t.spec.model.name, spec_dir)
    return ModelRecord(path=str(folder), detail=str(folder))


def _run_compute(t: LocalTarget, planned: PlannedStage, events: Events, ready: Ready) -> ComputeRecord:
    cores = os.cpu_count() or 1
    precision = t.spec.finetune.precision
    return ComputeRecord(detail=f"{cores} CPU cores; training runs in fp32 (precision {precision} applies on GPUs)")


def _run_finetune(t: LocalTarget, planned: PlannedStage, events: Events, ready: Ready) -> FinetuneRecord:
    from orchestrator.targets.local.train import finetune

    # Before ready(): without the local extra, the endpoint must not be started alongside a
    # fine-tune that cannot run (its router would be left running).
    extras.require("torch", "transformers", "peft", what="stage finetune", target="local")
    data, model = t.record(DataRecord), t.record(ModelRecord)
    out = t.dir / "finetune" / planned.fingerprint[:12]
    out.mkdir(parents=True, exist_ok=True)
    ready()  # the endpoint needs nothing from the fine-tune: it may be made meanwhile
    splits = data.splits or {}
    result = finetune(
        t.spec,
        Path(str(model.path)),
        Path(splits["train"]["path"]),
        out,
        progress=lambda p: events.emit("progress", "finetune", **p),
        threads=endpoint.training_threads(t),
        validation_file=Path(splits["validation"]["path"]) if "validation" in splits else None,
    )
    result.update(metrics.announce(t, events, result["metrics"], result["curves"], out))
    result["detail"] = (
        f"loss {result['loss_first']:.3f} -> {result['loss_last']:.3f}, "
        f"{metrics.line(result['metrics'], keys=('train_loss', 'eval_loss'))}, "
        f"{result['tokens_per_s']:.0f} tokens/s, curve {result['loss_curve']}"
    )
    return FinetuneRecord.from_dict(result)


def _run_register(t: LocalTarget, planned: PlannedStage, events: Events, ready: Ready) -> RegisterRecord:
    from orchestrator.targets.local import registry

    tuned = t.record(FinetuneRecord)
    version = registry.register(
        t.root,
        name=t.spec.register_name,
        fingerprint=planned.fingerprint,
        model_dir=Path(str(tuned.model_dir)),
        run=t.spec.name,
        achieved=tuned.metrics,
    )
    name = t.spec.register_name
    return RegisterRecord(name=name, version=version, detail=f"{name} version {version}")


def _run_endpoint(t: LocalTarget, planned: PlannedStage, events: Events, ready: Ready) -> EndpointRecord:
    key_file = t.dir / "endpoint.key"
    if not key_file.exists():
        atomic_write(key_file, secrets.token_urlsafe(32) + "\n", mode=0o600)
    os.chmod(key_file, 0o600)
    router = endpoint.start_router(t)
    uri = f"http://127.0.0.1:{router['port']}/score"
    detail = f"{uri} (key auth; key stored with mode 0600)"
    return EndpointRecord.from_dict({**router, "scoring_uri": uri, "key_file": str(key_file), "detail": detail})


def _run_deployment(t: LocalTarget, planned: PlannedStage, events: Events, ready: Ready) -> DeploymentRecord:
    from orchestrator.targets.local import registry

    reg = t.record(RegisterRecord)
    model_dir, tokenizer_dir = registry.model_path(t.root, str(reg.name), str(reg.version))
    name = deployment_name(t.spec)
    model = f"{reg.name}/{reg.version}"
    try:
        started = endpoint.start_deployment(t, name, model_dir, tokenizer_dir, model)
    except OrchestrateError as exc:
        done = rollout.rollback(t, name, None, delete=t.spec.deployment.rollout.blue_green)
        raise OrchestrateError(f"deployment {name} failed: {exc}; {done}") from None
    detail = f"{name}: {model} (Azure ML inference server, pid {started['pid']}, 127.0.0.1:{started['port']})"
    return DeploymentRecord.from_dict({**started, "deployment": name, "detail": detail})


def _destroy_deployment(t: LocalTarget, entry: dict) -> None:
    if endpoint.router_port(t):
        t.set_traffic({}, {})
    for name in list(endpoint.processes(t)):
        endpoint.delete_deployment(t, name)


def _destroy_endpoint(t: LocalTarget, entry: dict) -> None:
    endpoint.stop_all(t)
    endpoint.stop(t.record(EndpointRecord).pid, grace_s=5)
    for name in ("endpoint.key", "backend.key", "routes.json", "router.json"):
        (t.dir / name).unlink(missing_ok=True)
    # The logs go with what wrote them (prompts and answers are in them): nothing of it stays.
    for log in [*t.dir.glob("router.log*"), *t.dir.glob("deployment-*.log")]:
        log.unlink(missing_ok=True)


def _destroy_register(t: LocalTarget, entry: dict) -> None:
    from orchestrator.targets.local import registry

    if entry.get("version"):
        registry.delete_version(t.root, entry["name"], entry["version"])


def _destroy_files(subdir: str) -> Callable[[LocalTarget, dict], None]:
    def destroy(t: LocalTarget, entry: dict) -> None:
        import shutil

        shutil.rmtree(t.dir / subdir, ignore_errors=True)

    return destroy


def _observe_endpoint(t: LocalTarget, fingerprint: str, cached: dict) -> Observed:
    """The endpoint lives in its router process: it exists while that runs."""
    if not cached or not endpoint.alive(cached.get("pid")):
        return Observed(False)
    return Observed(True, cached.get("fingerprint", ""), cached.get("inputs"), cached.get("detail", ""))


def _observe_deployment(t: LocalTarget, fingerprint: str, cached: dict) -> Observed:
    """The spec's deployment exists while its scoring process runs behind the router."""
    name = deployment_name(t.spec)
    running = endpoint.processes(t).get(name)
    router = endpoint.router_port(t)
    if running is None or not endpoint.alive(running.get("pid")) or not router:
        current = rollout.serving(t.deployments(), name) if router else None
        return Observed(False, note=f"create beside {current.name} (serving {current.traffic}%)" if current else "")
    if cached.get("deployment") != name:
        return Observed(True, "", None, note=f"{name} runs, but was not recorded as done: apply checks it")
    return Observed(True, cached.get("fingerprint", ""), cached.get("inputs"), cached.get("detail", ""))


LocalTarget.handlers = {
    "data": StageHandler(observe_recorded, _run_data, _destroy_files("data")),
    "model": StageHandler(observe_recorded, _run_model),
    "compute": StageHandler(observe_recorded, _run_compute),
    "finetune": StageHandler(observe_recorded, _run_finetune, _destroy_files("finetune")),
    "register": StageHandler(observe_recorded, _run_register, _destroy_register),
    "endpoint": StageHandler(_observe_endpoint, _run_endpoint, _destroy_endpoint),
    "deployment": StageHandler(_observe_deployment, _run_deployment, _destroy_deployment),
}
