"""The local endpoint and its deployments: the router (router.py) on a stable port, and one Azure ML
inference server process per deployment (score.py as its entry script), as on Azure.

The router's routes are the endpoint's traffic; `deployments.json` in the run's folder lists the
scoring processes this run started (name -> pid, port, model, log). What the rollout (rollout.py)
asks of a target's router is implemented here on top of both.
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
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from orchestrator import smoke
from orchestrator.errors import OrchestrateError
from orchestrator.naming import Served
from orchestrator.records import EndpointRecord
from orchestrator.state import atomic_write

if TYPE_CHECKING:
    from orchestrator.targets.local.target import LocalTarget


# --- the router ------------------------------------------------------------------------------------
def router_port(t: LocalTarget) -> int | None:
    entry = t.record(EndpointRecord)
    return entry.port if alive(entry.pid) else None


def start_router(t: LocalTarget) -> dict:
    """The router on a free port, or the one already running (its port is the scoring URI: it stays)."""
    entry = t.record(EndpointRecord)
    if alive(entry.pid):
        return {"pid": entry.pid, "port": entry.port}
    port = entry.port or free_port()
    if not port_free(port):
        port = free_port()
    config = {
        "port": port,
        "key_file": str(t.dir / "endpoint.key"),
        "backend_key_file": str(backend_key_file(t)),
        "routes_file": str(t.dir / "routes.json"),
        "timeout_ms": t.spec.deployment.timeout_ms,
        "max_concurrent": t.spec.deployment.max_concurrent_requests_per_instance,
        "log_file": str(t.dir / "router.log"),
    }
    atomic_write(t.dir / "router.json", json.dumps(config, indent=2) + "\n")
    proc = spawn(
        [sys.executable, "-m", "orchestrator.targets.local.router", "--config", str(t.dir / "router.json")],
        t.dir / "router.log",
        child_environment(),
    )
    t.state.record("endpoint", {"pid": proc.pid, "port": port, "fingerprint": "", "inputs": None})
    wait_live(f"http://127.0.0.1:{port}/", t.spec.deployment.liveness, proc, t.dir / "router.log")
    return {"pid": proc.pid, "port": port}


def backend_key_file(t: LocalTarget) -> Path:
    """The secret the router adds to every request it forwards, and each deployment requires: a
    deployment's port is on loopback, where any local user could reach it without the endpoint key."""
    path = t.dir / "backend.key"
    if not path.exists():
        atomic_write(path, secrets.token_urlsafe(32) + "\n", mode=0o600)
    return path


# What a child process (the router, a deployment) is given of this process's environment: what
# Python, the libraries and the CPU runtimes read; not the rest (AZURE_CLIENT_SECRET, tokens, ...).
_CHILD_NAMES = {"PATH", "HOME", "USER", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "TZ", "PYTHONPATH", "VIRTUAL_ENV"}
_CHILD_PREFIXES = ("HF_", "TRANSFORMERS_", "TORCH", "OMP_", "MKL_", "OPENBLAS_", "MLFLOW_", "DO_NOT_TRACK", "AZUREML_")


def child_environment(**extra: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k in _CHILD_NAMES or k.startswith(_CHILD_PREFIXES)}
    return {**keep, **extra}


def admin(t: LocalTarget, method: str = "GET", body: dict | None = None) -> dict | None:
    """The router's routes (GET) or a replacement of them (PUT); None when no router runs."""
    port = router_port(t)
    if port is None:
        return None
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/-/routes",
        data=data,
        method=method,
        headers={"Authorization": f"Bearer {t.key()}", "Content-Type": "application/json"},
    )
    try:
        with smoke.opener_for(request.full_url).open(request, timeout=30) as resp:
            return json.loads(resp.read())
    except (urllib.error.URLError, OSError) as exc:
        raise OrchestrateError(f"the local endpoint's router did not answer: {exc}") from None


# --- the deployments' processes ----------------------------------------------------------------------
def processes(t: LocalTarget) -> dict[str, dict]:
    path = t.dir / "deployments.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _write_processes(t: LocalTarget, found: dict[str, dict]) -> None:
    atomic_write(t.dir / "deployments.json", json.dumps(found, indent=2) + "\n")


def start_deployment(t: LocalTarget, name: str, model_dir: Path, tokenizer_dir: Path, model: str) -> dict:
    """A scoring process for `name`, live, and in the router's backends at its current traffic. A
    deployment of that name already running (a scale-only change) is replaced behind the router
    without a gap: the new process is live before the router moves, and the old one drains."""
    d = t.spec.deployment
    port = free_port()
    log = t.dir / f"deployment-{name}.log"
    backend_key = backend_key_file(t).read_text().strip()
    proc = spawn_scoring(
        model_dir, tokenizer_dir, port, log, d.timeout_ms, d.max_concurrent_requests_per_instance, backend_key
    )
    found = processes(t)
    old = found.get(name)
    # Recorded before the wait: a kill during it must not leave the process unknown.
    found[name] = {"pid": proc.pid, "port": port, "model": model, "log": str(log)}
    _write_processes(t, found)
    try:
        wait_live(f"http://127.0.0.1:{port}/", d.liveness, proc, log)
    except OrchestrateError:
        found.pop(name)
        if old:
            found[name] = old
        _write_processes(t, found)
        raise
    routes = admin(t) or {}
    backends = {**routes.get("backends", {}), name: port}
    admin(t, "PUT", {**routes, "backends": backends})
    if old:
        stop(old.get("pid"))
    return found[name]


def delete_deployment(t: LocalTarget, name: str) -> None:
    """Out of the router first (it must take no traffic), then its process drains and stops."""
    routes = admin(t)
    if routes is not None:
        if routes["traffic"].get(name):
            raise OrchestrateError(
                f"deployment {name} takes {routes['traffic'][name]}% of the traffic; route it away first"
            )
        trimmed = {
            key: {k: v for k, v in routes[key].items() if k != name} for key in ("traffic", "mirror", "backends")
        }
        admin(t, "PUT", trimmed)
    found = processes(t)
    entry = found.pop(name, None)
    if entry:
        stop(entry.get("pid"))
    _write_processes(t, found)


def served(t: LocalTarget) -> list[Served]:
    routes = admin(t)
    if routes is None:
        return []
    found = processes(t)
    names = list(dict.fromkeys([*found, *routes["backends"]]))
    return [
        Served(
            name,
            name in found,
            routes["traffic"].get(name, 0),
            routes["mirror"].get(name, 0),
            found.get(name, {}).get("model", ""),
            "Succeeded" if alive(found.get(name, {}).get("pid")) else "Failed",
        )
        for name in names
    ]


def set_traffic(t: LocalTarget, traffic: Mapping[str, int], mirror: Mapping[str, int]) -> None:
    routes = admin(t)
    if routes is None:
        raise OrchestrateError(f"the local endpoint of run {t.spec.name} is not running; run `orchestrate apply`")
    missing = [n for n, p in [*traffic.items(), *mirror.items()] if p and n not in routes["backends"]]
    if missing:  # as Azure: traffic only to deployments that exist
        raise OrchestrateError(f"traffic names deployments that do not exist: {', '.join(missing)}")
    admin(t, "PUT", {"traffic": dict(traffic), "mirror": dict(mirror), "backends": routes["backends"]})


def counts(t: LocalTarget, name: str) -> tuple[int, int] | None:
    routes = admin(t)
    if routes is None:
        return None
    requests, failed = routes.get("counts", {}).get(name, [0, 0])
    return requests, failed


def logs(t: LocalTarget, name: str) -> str:
    log = Path(processes(t).get(name, {}).get("log") or t.dir / f"deployment-{name}.log")
    if not log.exists():
        return ""
    lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    return " | ".join(lines[-5:])


def stop_all(t: LocalTarget) -> None:
    for entry in processes(t).values():
        stop(entry.get("pid"))
    (t.dir / "deployments.json").unlink(missing_ok=True)


# --- processes -----------------------------------------------------------------------------------
def scoring_threads() -> int:
    """Torch threads of a deployment: half the cores, so an update's fine-tune keeps the rest."""
    return max(1, (os.cpu_count() or 2) // 2)


def training_threads(t: LocalTarget) -> int | None:
    """Torch threads of a fine-tune: every core, or those the running deployments leave free.
    Two torch processes with a thread per core each oversubscribe the CPU, and their threads wait
    on each other: on 2 cores an update's fine-tune under client load ran at 9 tokens/s, against
    157 alone (BENCHMARKS.md)."""
    serving = [e for e in processes(t).values() if alive(e.get("pid"))]
    return max(1, (os.cpu_count() or 2) - scoring_threads()) if serving else None


def spawn_scoring(
    model_dir: Path, tokenizer_dir: Path, port: int, log: Path, timeout_ms: int, threads: int, backend_key: str = ""
) -> subprocess.Popen:
    """The Azure ML inference server on 127.0.0.1:port running score.py. Its WSGI app under
    gunicorn, as the server's own CLI binds 0.0.0.0 whatever it is told (reference/local-stack.md).
    Threads: the router sends at most `threads` at once; four more so that a stray connection
    to the port (loopback is anyone's) cannot hold the only one. Each deployment has its own
    gunicorn control socket in its own folder, not ~/.gunicorn shared by all."""
    env = child_environment(
        OMP_NUM_THREADS=str(scoring_threads()),  # see training_threads
        AZUREML_ENTRY_SCRIPT=str(Path(__file__).with_name("score.py")),
        AZUREML_MODEL_DIR=str(model_dir),
        ORCHESTRATE_TOKENIZER_DIR=str(tokenizer_dir),
        ORCHESTRATE_TIMEOUT_MS=str(timeout_ms),
        SCORING_TIMEOUT_MS=str(timeout_ms),
        ORCHESTRATE_BACKEND_KEY=backend_key,
    )
    timeout_s = str(timeout_ms // 1000 + 30)  # gunicorn's worker timeout and its drain on SIGTERM
    command = [
        sys.executable, "-m", "gunicorn", "-b", f"127.0.0.1:{port}", "-w", "1", "--threads", str(threads + 4),
        "--timeout", timeout_s, "--graceful-timeout", timeout_s, "--keep-alive", "5",
        "--worker-tmp-dir", str(log.parent), *_no_control_socket(),
        "azureml_inference_server_http.server.entry:app",
    ]  # fmt: skip
    return spawn(command, log, env)


def _no_control_socket() -> list[str]:
    """gunicorn 26 opens a control socket, by default one ~/.gunicorn/gunicorn.ctl for every
    server of the user: none is used here, so none is opened (older gunicorns have none)."""
    try:
        from gunicorn.config import KNOWN_SETTINGS
    except ImportError:
        return []
    return ["--no-control-socket"] if any(s.name == "control_socket_disable" for s in KNOWN_SETTINGS) else []


def spawn(command: list[str], log: Path, env: dict | None = None) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen(
            command, stdout=out, stderr=out, stdin=subprocess.DEVNULL, start_new_session=True, env=env
        )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


# What the processes this target starts run: the router, and gunicorn serving the inference server.
OURS = ("orchestrator.targets.local.router", "azureml_inference_server_http.server.entry:app")


def alive(pid: int | None) -> bool:
    """Whether `pid` is one of this target's servers, running. A pid from a state file may have
    been reused after a reboot, or the file edited: a process that is not one of ours is not
    alive here, so nothing (stop() included) ever signals it."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    try:  # our own child that exited: reap it, it is not alive; one that runs is ours, surely
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        pass  # started by an earlier orchestrate (or not by us at all): ask what it runs
    command = command_of(pid)
    return command is None or any(marker in command for marker in OURS)


def command_of(pid: int) -> str | None:
    """The process's command line ("" once it is gone), None where the system cannot say."""
    proc = Path(f"/proc/{pid}/cmdline")
    if Path("/proc/self/cmdline").exists():
        try:
            return proc.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            return ""
    try:  # macOS and the BSDs: no /proc
        out = subprocess.run(["ps", "-o", "command=", "-p", str(pid)], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip()


def stop(pid: int | None, grace_s: float = 30) -> None:
    """SIGTERM to the process group (gunicorn finishes the requests in flight), SIGKILL after `grace_s`."""
    if pid is None or not alive(pid):
        return
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if not alive(pid):
            return
        time.sleep(0.1)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def wait_live(url: str, probe, proc: subprocess.Popen, log: Path) -> None:
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
                stop(proc.pid, grace_s=5)
                raise OrchestrateError(f"deployment not live after {probe.initial_delay}s + {failures} failed probes")
        time.sleep(min(probe.period, 0.5) if time.monotonic() - started < probe.initial_delay else probe.period)
