"""Azure as it takes its time: operations that last minutes, jobs that stop answering heartbeats,
identity-based datastores and SAS credentials that expire (issue: long-running Azure)."""

from __future__ import annotations

import signal

from tests.azure.conftest import spawn
from tests.azure.test_apply_azure import _mutated
from tests.azure.test_resume_and_lock import EXPECTED, _kill_on

DEPLOYMENT_PUT = r"/deployments/demo-[0-9a-f]+$"
LOCK_BLOB = "/orchestrate/locks/"


def _deployment_requests(emulator, method: str) -> list:
    return [r for r in emulator.requests if r.method == method and "/deployments/demo-" in r.path.split("?")[0]]


def _serving(emulator) -> dict[str, int]:
    (endpoint,) = emulator.resources("onlineendpoints").values()
    return {name: share for name, share in endpoint["properties"]["traffic"].items() if share}


def _kinds_now(emulator) -> dict[str, int]:
    from tests.azure.test_apply_azure import _kinds

    return _kinds(emulator)


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
    box = _kill_on(emulator, "GET", r"/jobs/phi4-ultrachat-ft-", nth=5)  # killed while NotResponding
    box["proc"] = spawn("apply", azure_spec, "-y")
    assert box["proc"].wait(timeout=120) == -signal.SIGKILL
    plan = orchestrate("plan", azure_spec)
    assert "is NotResponding: apply re-attaches to it (nothing is resubmitted)" in plan.output
    emulator.config.job_states = [("NotResponding", 7), ("Completed", 1)]
    result = orchestrate("apply", azure_spec, "-y")
    assert result.exit_code == 0, result.output
    assert [m for m in _mutated(emulator, 0) if m == "PUT jobs"] == ["PUT jobs"]
