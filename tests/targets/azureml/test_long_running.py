"""Azure as it takes its time: operations that last minutes, jobs that stop answering heartbeats,
identity-based datastores and SAS credentials that expire (issue: long-running Azure)."""

from __future__ import annotations

import os
import signal
import time

from tests.targets.azureml.conftest import spawn
from tests.targets.azureml.test_apply_azure import _mutated
from tests.targets.azureml.test_resume_and_lock import EXPECTED, killed_apply

DEPLOYMENT_PUT = r"/deployments/demo-[0-9a-f]+$"
LOCK_BLOB = "/orchestrate/locks/"


def _deployment_requests(emulator, method: str) -> list:
    return [r for r in emulator.requests if r.method == method and "/deployments/demo-" in r.path.split("?")[0]]


def _serving(emulator) -> dict[str, int]:
    (endpoint,) = emulator.resources("onlineendpoints").values()
    return {name: share for name, share in endpoint["properties"]["traffic"].items() if share}


def test_a_killed_apply_s_deployment_create_is_waited_for_never_deleted(emulator, azure_spec, orchestrate, monkeypatch):
    emulator.config.seconds["deployments"] = 60.0  # a deployment's create lasts about a minute
    monkeypatch.setenv("ORCHESTRATE_POLL_SECONDS", "2")
    killed_apply(emulator, azure_spec, "PUT", DEPLOYMENT_PUT)  # the PUT is handled: the create goes on on Azure
    (deployment,) = [v for k, v in emulator.resources("deployments").items()]
    assert deployment["properties"]["provisioningState"] == "Creating"
    created_at = time.monotonic()

    plan = orchestrate("plan", azure_spec)
    assert "deployment is Creating (an operation in progress on Azure): apply waits for it" in plan.output
    result = orchestrate("apply", azure_spec, "-y")
    assert result.exit_code == 0, result.output
    assert time.monotonic() - created_at >= 60  # it waited the create out
    assert "is Creating (an operation in progress on Azure): waiting for it to end" in result.output
    assert _deployment_requests(emulator, "DELETE") == []
    assert len(_deployment_requests(emulator, "PUT")) == 1  # the killed apply's: none over it
    ((name, share),) = _serving(emulator).items()
    assert share == 100 and name == deployment["name"]
    assert _kinds_now(emulator) == EXPECTED
    # Waiting reads the deployment once per poll interval, not in a loop.
    reads = [r for r in _deployment_requests(emulator, "GET") if r.at >= created_at]
    assert len(reads) <= 60 / 2 + 5, len(reads)


def _kinds_now(emulator) -> dict[str, int]:
    from tests.targets.azureml.test_apply_azure import _kinds

    return _kinds(emulator)


def test_ctrl_c_while_waiting_is_one_line_and_deletes_nothing(emulator, azure_spec):
    emulator.config.seconds["deployments"] = 600.0
    killed_apply(emulator, azure_spec, "PUT", DEPLOYMENT_PUT)
    waiting: dict = {}
    # The second apply's third read of the deployment: it is waiting for the create to end.
    emulator.on("GET", DEPLOYMENT_PUT, lambda req: os.kill(waiting["proc"].pid, signal.SIGINT), nth=3)
    waiting["proc"] = spawn("apply", azure_spec, "-y")
    _, err = waiting["proc"].communicate(timeout=120)
    assert waiting["proc"].returncode == 130, err[-2000:]
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("error: interrupted during deployment; deployment demo-")
    assert _deployment_requests(emulator, "DELETE") == []
    assert len(_deployment_requests(emulator, "PUT")) == 1


def test_a_job_not_responding_for_a_while_is_waited_on_not_resubmitted(emulator, azure_spec, orchestrate):
    # Azure's JobStatus: "A run can go from NotResponding to any of the previous states."
    emulator.config.job_states = [("Running", 2), ("NotResponding", 4), ("Running", 2), ("Completed", 1)]
    result = orchestrate("apply", azure_spec, "-y")
    assert result.exit_code == 0, result.output
    assert "NotResponding (no heartbeat from the job; Azure may resume it: waiting)" in result.output
    assert [m for m in _mutated(emulator, 0) if m == "PUT jobs"] == ["PUT jobs"]
    assert _kinds_now(emulator) == EXPECTED


def test_a_job_found_not_responding_is_reattached(emulator, azure_spec, orchestrate):
    emulator.config.job_states = [("Running", 2), ("NotResponding", 1000)]
    killed_apply(emulator, azure_spec, "GET", r"/jobs/phi4-ultrachat-ft-", nth=5)  # killed while NotResponding
    plan = orchestrate("plan", azure_spec)
    assert "is NotResponding: apply re-attaches to it (nothing is resubmitted)" in plan.output
    emulator.config.job_states = [("NotResponding", 7), ("Completed", 1)]
    result = orchestrate("apply", azure_spec, "-y")
    assert result.exit_code == 0, result.output
    assert [m for m in _mutated(emulator, 0) if m == "PUT jobs"] == ["PUT jobs"]


def test_an_identity_based_datastore_locks_with_the_azure_ad_token(emulator, azure_spec, orchestrate):
    emulator.config.identity_datastore = True
    result = orchestrate("apply", azure_spec, "-y")
    assert result.exit_code == 0, result.output
    lock_calls = [r for r in emulator.requests if LOCK_BLOB in r.path]
    assert len(lock_calls) >= 4  # create, name, lease, release at least
    assert {r.auth for r in lock_calls} == {"bearer"}
    assert all(r.status < 400 or r.status == 404 for r in lock_calls), [(r.path, r.status) for r in lock_calls]
    assert _kinds_now(emulator) == EXPECTED


def test_an_expiring_sas_is_renewed_and_the_lock_holds_through_a_long_finetune(
    emulator, azure_spec, tmp_path, monkeypatch
):
    emulator.config.sas_seconds = 3.0  # the lock's SAS runs out long before the fine-tune ends
    emulator.config.seconds["job"] = 12.0
    monkeypatch.setenv("ORCHESTRATE_LOCK_RENEW_SECONDS", "0.5")
    monkeypatch.setenv("ORCHESTRATE_POLL_SECONDS", "0.5")
    first = spawn("apply", azure_spec, "-y")
    deadline = time.time() + 60
    while not any(r.method == "PUT" and "/jobs/" in r.path for r in emulator.requests):
        assert time.time() < deadline and first.poll() is None, first.stderr.read() if first.poll() else ""
        time.sleep(0.1)
    time.sleep(5)  # past the first SAS's expiry, the job still running
    monkeypatch.setenv("ORCHESTRATE_STATE_DIR", str(tmp_path / "other-machine"))
    second = spawn("apply", azure_spec, "-y")
    _, err = second.communicate(timeout=60)
    assert second.returncode == 1, err[-2000:]
    assert "is locked on Azure by" in err and f"pid {first.pid}" in err
    _, first_err = first.communicate(timeout=120)
    assert first.returncode == 0, first_err[-2000:]
    assert "could not renew the run lock" not in first_err
    renewals = [r for r in emulator.requests if LOCK_BLOB in r.path and "comp=lease" in r.path and r.method == "PUT"]
    signatures = {r.auth for r in renewals if r.auth.startswith("sas:")}
    assert len(signatures) >= 3  # fresh SASes, several times over the run
    assert [r.status for r in renewals if r.status == 403] == []  # never sent with an expired SAS


def test_a_lost_lease_stops_the_apply_before_its_next_stage(emulator, azure_spec, monkeypatch):
    from tests.targets.azureml.emulator import STORAGE_ACCOUNT

    emulator.config.seconds["job"] = 4.0
    monkeypatch.setenv("ORCHESTRATE_LOCK_RENEW_SECONDS", "0.3")
    monkeypatch.setenv("ORCHESTRATE_POLL_SECONDS", "0.3")
    key = (STORAGE_ACCOUNT, "azureml-blobstore-test", "orchestrate/locks/phi4-ultrachat")

    def taken_by_another(request) -> None:  # someone broke the lease and took it
        emulator.blobs[key]["lease"] = {"id": "someone-else", "expires": time.time() + 60, "duration": 60}

    emulator.on("GET", r"/jobs/phi4-ultrachat-ft-", taken_by_another, nth=2)
    proc = spawn("apply", azure_spec, "-y")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err[-2000:]
    assert "error: the run lock of phi4-ultrachat was lost (LeaseIdMismatchWithLeaseOperation)" in err
    assert "the apply stopped before its next stage" in err and "Traceback" not in err
    assert not emulator.resources("deployments")  # nothing billable after the loss
    assert not [r for r in emulator.requests if r.method == "PUT" and "/models/" in r.path]
