"""A killed apply is resumed by the next one with nothing created twice; the run lock on Azure."""

from __future__ import annotations

import os
import re
import signal
import socket
import time
import uuid

import pytest

from tests.targets.azureml.conftest import spawn
from tests.targets.azureml.test_apply_azure import _kinds, _mutated

EXPECTED = {"jobs": 1, "versions": 3, "onlineendpoints": 1, "deployments": 1, "computes": 1}


def _kill_on(emulator, method: str, pattern: str, nth: int = 1) -> dict:
    box: dict = {}

    def kill(request) -> None:
        os.kill(box["proc"].pid, signal.SIGKILL)
        box["killed_at"] = f"{method} {request.path}"

    emulator.on(method, pattern, kill, nth=nth)
    return box


def killed_apply(emulator, spec, method: str, pattern: str, nth: int = 1) -> dict:
    """An apply of `spec` in its own process, killed -9 at the nth request matching method +
    pattern (that request is still handled); the box holds the process and where it was killed."""
    box = _kill_on(emulator, method, pattern, nth)
    box["proc"] = spawn("apply", spec, "-y")
    assert box["proc"].wait(timeout=120) == -signal.SIGKILL, box["proc"].stderr.read()[-2000:]
    return box


@pytest.mark.parametrize(
    "method,pattern,nth",
    [
        ("PUT", r"/data/[^/]+/versions/", 1),  # data: uploading
        ("PUT", r"/computes/", 1),  # compute: creating
        ("PUT", r"/jobs/", 1),  # finetune: submitting
        ("PUT", r"/models/[^/]+/versions/", 1),  # register
        ("PUT", r"/deployments/demo-[0-9a-f]+$", 1),  # deployment: creating
        ("POST", r"/score$", 1),  # smoke test
    ],
    ids=["data", "compute", "job-submit", "register", "deployment", "smoke"],
)
def test_kill_at_any_stage_then_apply_completes_without_duplicates(
    emulator, azure_spec, orchestrate, method, pattern, nth
):
    box = killed_apply(emulator, azure_spec, method, pattern, nth)
    result = orchestrate("apply", azure_spec, "-y")  # same machine: the dead apply's lease is broken
    assert result.exit_code == 0, result.output
    assert _kinds(emulator) == EXPECTED, box["killed_at"]
    assert sum(1 for m in _mutated(emulator, 0) if m == "PUT jobs") == 1


def test_kill_while_the_job_runs_reattaches_instead_of_resubmitting(emulator, azure_spec, orchestrate, monkeypatch):
    emulator.config.job_ticks = 120  # requests, not seconds: plan and apply's reads must not finish it
    # Killed at its 4th read of the job: 1 observe + polls of a running job.
    killed_apply(emulator, azure_spec, "GET", r"/jobs/phi4-ultrachat-ft-", nth=4)
    (job,) = emulator.resources("jobs").values()
    assert job["properties"]["status"] not in ("Completed", "Failed")
    plan = orchestrate("plan", azure_spec)
    assert "apply re-attaches to it (nothing is resubmitted)" in plan.output
    result = orchestrate("apply", azure_spec, "-y")
    assert result.exit_code == 0, result.output
    assert "re-attaching to job phi4-ultrachat-ft-" in result.output
    assert [m for m in _mutated(emulator, 0) if m == "PUT jobs"] == ["PUT jobs"]
    assert _kinds(emulator) == EXPECTED


def test_the_endpoint_is_created_while_the_finetune_runs(emulator, azure_spec, orchestrate):
    emulator.config.job_ticks = 30
    emulator.config.seconds = {"operation": 1.0, "job": 3.0}  # the endpoint takes a second, the job three
    assert orchestrate("apply", azure_spec, "-y").exit_code == 0
    paths = [f"{r.method} {r.path.split('?')[0]}" for r in emulator.requests]
    endpoint_put = next(
        i for i, p in enumerate(paths) if p.startswith("PUT") and p.endswith("/onlineEndpoints/ultrachat-completion")
    )
    job_put = next(i for i, p in enumerate(paths) if p.startswith("PUT") and "/jobs/phi4-ultrachat-ft-" in p)
    job_polls = [i for i, p in enumerate(paths) if p.startswith("GET") and "/jobs/phi4-ultrachat-ft-" in p]
    # The endpoint's own operation: the first one polled after its PUT.
    operation = next(p for p in paths[endpoint_put:] if p.startswith("GET") and "/mfeOperationsStatus/" in p)
    endpoint_polls = [i for i, p in enumerate(paths) if p == operation]
    # Its name accepted before the job is submitted; its creation goes on while the job runs.
    assert endpoint_put < job_put < endpoint_polls[-1] < job_polls[-1]


def _hold_lock(emulator, holder: str, host: str, pid: int) -> None:
    from tests.targets.azureml.emulator import STORAGE_ACCOUNT

    emulator.blobs[(STORAGE_ACCOUNT, "azureml-blobstore-test", "orchestrate/locks/phi4-ultrachat")] = {
        "data": b"",
        "metadata": {"holder": holder, "host": host, "pid": str(pid)},
        "lease": {"id": str(uuid.uuid4()), "expires": time.time() + 60, "duration": 60},
    }


def test_a_lock_held_elsewhere_is_refused_naming_the_holder_until_force_unlock(emulator, azure_spec, orchestrate):
    _hold_lock(emulator, "alice@build-agent-7 pid 4242 since 2026-11-25T09:00:00", "build-agent-7", 4242)
    result = orchestrate("apply", azure_spec, "-y")
    assert result.exit_code == 1
    assert "run phi4-ultrachat is locked on Azure by alice@build-agent-7 pid 4242" in result.output
    assert "--force-unlock" in result.output
    assert _mutated(emulator, 0) == []
    result = orchestrate("apply", azure_spec, "-y", "--force-unlock")
    assert result.exit_code == 0, result.output


def test_two_applies_of_one_spec_cannot_interleave(emulator, azure_spec, orchestrate, tmp_path, monkeypatch):
    emulator.config.seconds["job"] = 6.0  # the first apply holds the lock for several seconds
    monkeypatch.setenv("ORCHESTRATE_POLL_SECONDS", "0.2")
    first = spawn("apply", azure_spec, "-y")
    deadline = time.time() + 60
    while not any(b.get("lease") for k, b in emulator.blobs.items() if k[-1] == "orchestrate/locks/phi4-ultrachat"):
        assert time.time() < deadline and first.poll() is None, first.stderr.read() if first.poll() is not None else ""
        time.sleep(0.05)
    # A second machine: its own local state, the same Azure workspace.
    monkeypatch.setenv("ORCHESTRATE_STATE_DIR", str(tmp_path / "other-machine"))
    second = spawn("apply", azure_spec, "-y")
    _, err = second.communicate(timeout=60)
    assert second.returncode == 1, err[-2000:]
    assert "is locked on Azure by" in err and f"@{socket.gethostname()} pid {first.pid}" in err
    assert first.wait(timeout=120) == 0, first.stderr.read()[-2000:]
    assert _kinds(emulator) == EXPECTED


def test_ctrl_c_during_the_job_says_it_keeps_running_and_apply_reattaches(emulator, azure_spec, orchestrate):
    emulator.config.job_ticks = 10_000  # runs until the test is done with it
    box: dict = {}
    emulator.on("GET", r"/jobs/phi4-ultrachat-ft-", lambda req: os.kill(box["proc"].pid, signal.SIGINT), nth=3)
    box["proc"] = spawn("apply", azure_spec, "-y")
    _, err = box["proc"].communicate(timeout=120)
    assert box["proc"].returncode == 130, err[-2000:]
    last = err.strip().splitlines()[-1]
    assert re.fullmatch(
        r"error: interrupted during finetune; job (phi4-ultrachat-ft-\w+) keeps running on Azure"
        r"( and the creation of endpoint ultrachat-completion goes on on Azure)?; finished stages are "
        r"recorded and `orchestrate apply` resumes from there",
        last,
    ), last
    assert "Traceback" not in err
    (run,) = emulator.jobs_started.values()
    emulator.config.job_ticks = run["ticks"] + 30  # still running when the next apply looks, done soon after
    result = orchestrate("apply", azure_spec, "-y")
    assert result.exit_code == 0, result.output
    assert "re-attaching to job phi4-ultrachat-ft-" in result.output
    assert [m for m in _mutated(emulator, 0) if m == "PUT jobs"] == ["PUT jobs"]


def test_a_saved_plan_is_refused_when_latest_moved_to_another_version(emulator, azure_spec, orchestrate, tmp_path):
    from tests.targets.azureml.emulator import REGISTRY_RG, REGISTRY_SUB

    saved = tmp_path / "plan.json"
    assert orchestrate("plan", azure_spec, "--out", saved).exit_code == 0
    base = (
        f"/mferp/managementfrontend/subscriptions/{REGISTRY_SUB}/resourcegroups/{REGISTRY_RG}/providers/"
        "microsoft.machinelearningservices/registries/azureml/models/phi-4"
    )
    emulator.store[f"{base}/versions/9"] = {
        **emulator.store[f"{base}/versions/8"],
        "name": "9",
        "id": emulator.store[f"{base}/versions/8"]["id"].replace("/8", "/9"),
    }
    emulator.store[base]["properties"]["latestVersion"] = "9"
    result = orchestrate("apply", saved)
    assert result.exit_code == 1
    assert "the target's state changed since the plan was saved" in result.output
