"""The local target: observe and apply each stage on this machine, state under .orchestrate/<run>/.

One function per stage behind a name -> function table; each returns the record written to the
state file once its effect exists (so a killed apply resumes at the first unrecorded stage).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

from orchestrator import extras
from orchestrator.errors import OrchestrateError
from orchestrator.events import Events
from orchestrator.plan import Observed, PlannedStage
from orchestrator.state import atomic_write
from orchestrator.target import BaseTarget, Ready, SmokeTestFailed, StageHandler, not_ready, observe_recorded
from orchestrator.targets import dataprep, smoke


class LocalTarget(BaseTarget):
    name = "local"

    def left_running(self, stage: str, alongside: Sequence[str] = ()) -> str:
        """What an interrupt leaves running: the scoring server, once the deployment started it."""
        pid = self.state.stages().get("deployment", {}).get("pid")
        return f"the scoring server (pid {pid}) keeps running" if _server_alive(pid) else ""

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

    def rollback_traffic(self) -> None:
        entry = self.state.stages().get("traffic")
        if entry:
            self._write_traffic(0)
            self.state.forget("traffic")

    def _write_traffic(self, percent: int) -> None:
        atomic_write(self.dir / "traffic.json", json.dumps({self.spec.deployment.name: percent}) + "\n")

    # --- helpers used by stage functions ---------------------------------------------------------
    def key(self) -> str:
        return (self.dir / "endpoint.key").read_text().strip()

    def invoke(self, messages: list[dict], parameters: dict) -> dict:
        return smoke.invoke(
            self.scoring_uri(), self.key(), messages, parameters, timeout_s=self.spec.deployment.timeout_ms / 1000 + 5
        )

    def scoring_uri(self) -> str:
        port = self.state.stages().get("deployment", {}).get("port")
        if not port:
            raise OrchestrateError(f"run {self.spec.name} has no live deployment; run `orchestrate apply` first")
        return f"http://127.0.0.1:{port}/score"


def _run_data(t: LocalTarget, planned: PlannedStage, events: Events, ready: Ready) -> dict:
    out = t.dir / "data" / planned.fingerprint[:12]
    splits = dataprep.prepare(t.spec, out)
    rows = ", ".join(f"{role} {info['rows']} rows" for role, info in sorted(splits.items()))
    return {"splits": splits, "detail": rows}


def _run_model(t: LocalTarget, planned: PlannedStage, events: Events, ready: Ready) -> dict:
    from orchestrator.targets.local.model_source import resolve

    spec_dir = Path(t.spec.source_path).parent if t.spec.source_path else Path(".")
    folder = resolve(t.spec.model.name, spec_dir)
    return {"path": str(folder), "detail": str(folder)}


def _run_compute(t: LocalTarget, planned: PlannedStage, events: Events, ready: Ready) -> dict:
    cores = os.cpu_count() or 1
    return {
        "detail": f"{cores} CPU cores; training runs in fp32 (precision {t.spec.finetune.precision} applies on GPUs)"
    }


def _run_finetune(t: LocalTarget, planned: PlannedStage, events: Events, ready: Ready) -> dict:
    from orchestrator.targets.local.train import finetune

    stages = t.state.stages()
    out = t.dir / "finetune" / planned.fingerprint[:12]
    out.mkdir(parents=True, exist_ok=True)
    ready()  # the endpoint needs nothing from the fine-tune: it may be made meanwhile
    result = finetune(
        t.spec,
        Path(stages["model"]["path"]),
        Path(stages["data"]["splits"]["train"]["path"]),
        out,
        progress=lambda p: events.emit("progress", "finetune", **p),
    )
    result["detail"] = (
        f"loss {result['loss_first']:.3f} -> {result['loss_last']:.3f}, "
        f"{result['tokens_per_s']:.0f} tokens/s, curve {result['loss_curve']}"
    )
    return result


def _run_register(t: LocalTarget, planned: PlannedStage, events: Events, ready: Ready) -> dict:
    from orchestrator.targets.local import registry

    model_dir = Path(t.state.stages()["finetune"]["model_dir"])
    version = registry.register(
        t.root, name=t.spec.register_name, fingerprint=planned.fingerprint, model_dir=model_dir, run=t.spec.name
    )
    return {"name": t.spec.register_name, "version": version, "detail": f"{t.spec.register_name} version {version}"}


def _run_endpoint(t: LocalTarget, planned: PlannedStage, events: Events, ready: Ready) -> dict:
    key_file = t.dir / "endpoint.key"
    if not key_file.exists():
        atomic_write(key_file, secrets.token_urlsafe(32) + "\n", mode=0o600)
    os.chmod(key_file, 0o600)
    return {"key_file": str(key_file), "detail": "key auth; key stored with mode 0600"}


def _run_deployment(t: LocalTarget, planned: PlannedStage, events: Events, ready: Ready) -> dict:
    from orchestrator.targets.local import registry

    old = t.state.stages().get("deployment", {})
    _stop(old.get("pid"))
    reg = t.state.stages()["register"]
    model_dir, tokenizer_dir = registry.model_path(t.root, reg["name"], reg["version"])
    d = t.spec.deployment
    port = _free_port()
    config = {
        "model_dir": str(model_dir),
        "tokenizer_dir": str(tokenizer_dir),
        "port": port,
        "key_file": str(t.dir / "endpoint.key"),
        "timeout_ms": d.timeout_ms,
        "max_concurrent": d.max_concurrent_requests_per_instance,
    }
    config_file = t.dir / "server.json"
    atomic_write(config_file, json.dumps(config, indent=2) + "\n")
    log = open(t.dir / "server.log", "ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "orchestrator.targets.local.server", "--config", str(config_file)],
        stdout=log,
        stderr=log,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    # Record the process before waiting: a kill during the wait must not leave it unknown.
    t.state.record("deployment", {"pid": proc.pid, "port": port, "fingerprint": "", "inputs": None})
    _wait_live(f"http://127.0.0.1:{port}/", d.liveness, proc, t.dir / "server.log")
    return {
        "pid": proc.pid,
        "port": port,
        "scoring_uri": f"http://127.0.0.1:{port}/score",
        "model": f"{reg['name']}/{reg['version']}",
        "detail": f"serving {reg['name']} v{reg['version']} on 127.0.0.1:{port}",
    }


def _run_traffic(t: LocalTarget, planned: PlannedStage, events: Events, ready: Ready) -> dict:
    t._write_traffic(t.spec.deployment.traffic)
    return {"detail": f"{t.spec.deployment.name}={t.spec.deployment.traffic}%"}


def _run_smoke(t: LocalTarget, planned: PlannedStage, events: Events, ready: Ready) -> dict:
    messages = smoke.sample_messages(t.spec, t.state.stages().get("data", {}).get("splits", {}))
    result = t.invoke(messages, t.spec.smoke_test.parameters)
    if result["status"] != 200 or not result.get("answer"):
        t.rollback_traffic()
        raise SmokeTestFailed(
            f"smoke test failed: HTTP {result['status']} {result.get('error', 'empty answer')}; "
            "traffic rolled back to 0%"
        )
    return {**result, "detail": f"HTTP 200 in {result['latency_ms']:.0f} ms: {result['answer'][:80]!r}"}


def _run_teardown(t: LocalTarget, planned: PlannedStage, events: Events, ready: Ready) -> dict:
    for name in ("traffic", "deployment", "endpoint"):
        t.destroy_stage(name)
    return {"detail": "endpoint stopped"}


def _destroy_deployment(t: LocalTarget, entry: dict) -> None:
    _stop(entry.get("pid"))


def _destroy_endpoint(t: LocalTarget, entry: dict) -> None:
    (t.dir / "endpoint.key").unlink(missing_ok=True)
    (t.dir / "traffic.json").unlink(missing_ok=True)


def _destroy_register(t: LocalTarget, entry: dict) -> None:
    from orchestrator.targets.local import registry

    if entry.get("version"):
        registry.delete_version(t.root, entry["name"], entry["version"])


def _destroy_files(subdir: str) -> Callable[[LocalTarget, dict], None]:
    def destroy(t: LocalTarget, entry: dict) -> None:
        import shutil

        shutil.rmtree(t.dir / subdir, ignore_errors=True)

    return destroy


def _observe_served(t: LocalTarget, fingerprint: str, cached: dict) -> Observed:
    """The endpoint, the deployment and the traffic route live in the scoring server: they exist
    while it runs."""
    if not cached:
        return Observed(False)
    up = _server_alive(t.recorded.get("deployment", {}).get("pid"))
    return Observed(up, cached.get("fingerprint", ""), cached.get("inputs"), cached.get("detail", ""))


LocalTarget.handlers = {
    "data": StageHandler(observe_recorded, _run_data, _destroy_files("data")),
    "model": StageHandler(observe_recorded, _run_model),
    "compute": StageHandler(observe_recorded, _run_compute),
    "finetune": StageHandler(observe_recorded, _run_finetune, _destroy_files("finetune")),
    "register": StageHandler(observe_recorded, _run_register, _destroy_register),
    "endpoint": StageHandler(_observe_served, _run_endpoint, _destroy_endpoint),
    "deployment": StageHandler(_observe_served, _run_deployment, _destroy_deployment),
    "traffic": StageHandler(_observe_served, _run_traffic),
    "smoke_test": StageHandler(observe_recorded, _run_smoke),
    "teardown": StageHandler(observe_recorded, _run_teardown),
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _stop(pid: int | None) -> None:
    if pid is None or not _server_alive(pid):
        return
    os.killpg(pid, signal.SIGTERM)
    for _ in range(50):
        if not _server_alive(pid):
            return
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.1)
    os.killpg(pid, signal.SIGKILL)


def _wait_live(url: str, probe, proc: subprocess.Popen, log: Path) -> None:
    """Poll the liveness route; failures count only after initial_delay, as Azure's probe does."""
    started = time.monotonic()
    failures = 0
    while True:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace").strip().splitlines()[-3:]
            raise OrchestrateError(f"the scoring server exited (code {proc.returncode}): {' | '.join(tail)}")
        try:
            with smoke.opener_for(url).open(url, timeout=probe.timeout) as resp:  # never via a proxy
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() - started >= probe.initial_delay:
            failures += 1
            if failures >= probe.failure_threshold:
                _stop(proc.pid)
                raise OrchestrateError(f"deployment not live after {probe.initial_delay}s + {failures} failed probes")
        time.sleep(min(probe.period, 0.5) if time.monotonic() - started < probe.initial_delay else probe.period)
