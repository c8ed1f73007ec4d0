"""Blue/green updates on the azureml target: the real SDK against the emulator's traffic rules.

Every update here is a learning-rate change: a new model, so a new deployment beside the serving
one, gated at 0 % traffic, then the spec's steps (10 % held a second, then 100 %).
"""

from __future__ import annotations

import copy
import json
import re
import signal
import threading

import pytest

from orchestrator import smoke
from orchestrator.errors import OrchestrateError
from tests.targets.azureml.conftest import spawn
from tests.targets.azureml.test_apply_azure import _mutated
from tests.targets.azureml.test_resume_and_lock import killed_apply

ENDPOINT = "https://ultrachat-completion.eastus.inference.ml.azure.com/score"


def _deployments(em) -> list[str]:
    return [k.rsplit("/", 1)[1] for k in em.resources("deployments")]


def _traffic(em) -> dict[str, int]:
    endpoint = next(iter(em.resources("onlineendpoints").values()))
    return {d: p for d, p in endpoint["properties"]["traffic"].items() if p}


def _model_of(em, deployment: str) -> str:
    key = next(k for k in em.resources("deployments") if k.endswith("/" + deployment))
    return em.resources("deployments")[key]["properties"]["model"]


def _update(spec) -> None:
    spec.write_text(spec.read_text().replace("learning_rate: 5.0e-6", "learning_rate: 1.0e-5"))


class Client:
    """A client of the endpoint calling it in a loop, no deployment header, like production traffic."""

    def __init__(self, key: str):
        self.key, self.results, self.stop = key, [], threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stop.is_set():
            r = smoke.invoke(ENDPOINT, self.key, [{"role": "user", "content": "hi"}], {}, timeout_s=30)
            self.results.append(r["status"])

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=30)


def test_an_update_under_constant_load_fails_no_request(emulator, azure_spec, orchestrate):
    azure_spec.write_text(azure_spec.read_text().replace("  rollout:\n", "  rollout:\n    mirror: 20\n"))
    assert orchestrate("apply", azure_spec, "-y").exit_code == 0
    (old,) = _deployments(emulator)
    _update(azure_spec)
    plan = orchestrate("plan", azure_spec)
    assert re.search(rf"deployment .*demo-[0-9a-f]{{6}}.*create beside {old} \(serving 100%\)", plan.output)
    assert f"mirror 20 % while held; traffic 10 % for 1 s, then 100 %; then delete {old}" in plan.output
    scored_before, before = len(emulator.scored), len(emulator.requests)
    with Client(emulator.keys["primaryKey"]) as client:
        result = orchestrate("apply", azure_spec, "-y")
    assert result.exit_code == 0, result.output
    # Dozens of gate requests, one read of the key (kept in memory, never written).
    assert sum(1 for r in emulator.requests[before:] if r.path.split("?")[0].lower().endswith("/listkeys")) == 1
    (new,) = _deployments(emulator)
    assert new != old and _traffic(emulator) == {new: 100}
    assert len(client.results) > 20 and set(client.results) == {200}, client.results  # 0 failed requests
    # The new deployment answered by header (smoke test, evaluation) before any routed request.
    seen = [(s.deployment, s.via) for s in emulator.scored[scored_before:] if s.deployment == new]
    assert seen[0] == (new, "header")
    first_routed = seen.index((new, "traffic"))
    assert ("mirror" not in {v for _, v in seen[first_routed:]}) and (new, "mirror") in seen[:first_routed]
    assert all(s.status == 200 for s in emulator.scored[scored_before:])
    # Both scores are in the output; the serving deployment is what the candidate was compared with.
    assert re.search(rf"chrf [\d.]+ on \d+ conversations \(serving {old}: [\d.]+\)", result.output)


def test_a_failing_smoke_test_keeps_the_serving_deployment(emulator, azure_spec, orchestrate):
    assert orchestrate("apply", azure_spec, "-y").exit_code == 0
    (old,) = _deployments(emulator)
    _update(azure_spec)
    emulator.config.answer = lambda d, messages: (500, "CUDA error") if d != old else (200, "fine")
    result = orchestrate("apply", azure_spec, "-y")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert re.search(r"smoke test of demo-[0-9a-f]{6} failed: HTTP 500", result.output)
    assert f"{old} kept its 100%" in result.output and "liveness probe failed" in result.output  # its logs
    assert _traffic(emulator) == {old: 100} and _deployments(emulator) == [old]
    assert not [s for s in emulator.scored if s.deployment != old and s.via != "header"]  # no client saw it


@pytest.mark.parametrize("keep_failed", [False, True], ids=["deleted", "kept"])
def test_a_failing_quality_gate_keeps_the_serving_deployment_and_reports_both_scores(
    emulator, azure_spec, orchestrate, keep_failed
):
    assert orchestrate("apply", azure_spec, "-y").exit_code == 0
    (old,) = _deployments(emulator)
    _update(azure_spec)

    def answer(deployment: str, messages: list) -> tuple[int, str]:  # the new model babbles
        return (200, messages[-1]["content"]) if deployment == old else (200, "zzzz qqqq")

    emulator.config.answer = answer
    result = orchestrate("apply", azure_spec, "-y", "-o", "json", *(["--keep-failed"] if keep_failed else []))
    assert result.exit_code == 1
    events = [json.loads(line) for line in result.stdout.splitlines()]
    (gate,) = [e for e in events if e["event"] == "gate"]
    assert gate["serving_deployment"] == old and gate["samples"] == 4
    assert gate["candidate"] < gate["serving"] - 5 and gate["verdict"].startswith("blocked")
    error = next(e for e in events if e["event"] == "error")
    assert f"(serving {old}: {gate['serving']:.1f})" in error["message"]
    assert _traffic(emulator) == {old: 100}
    assert not [s for s in emulator.scored if s.deployment != old and s.via != "header"]  # no client saw it
    if not keep_failed:
        assert re.search(r"demo-[0-9a-f]{6} deleted", error["message"]) and _deployments(emulator) == [old]
        return
    assert "is kept at 0% (--keep-failed)" in error["message"]
    new = next(d for d in _deployments(emulator) if d != old)  # kept, at 0 %, for inspection
    # The next apply (the model fixed in the registry, say) goes on from the kept deployment.
    emulator.config.answer = None
    again = orchestrate("apply", azure_spec, "-y")
    assert again.exit_code == 0, again.output
    assert _deployments(emulator) == [new] and _traffic(emulator) == {new: 100}


@pytest.mark.parametrize(
    "method,pattern,nth",
    [
        ("PUT", r"/deployments/demo-[0-9a-f]+$", 1),  # creating the new deployment
        ("POST", r"/score$", 1),  # its smoke test, by header
        ("PUT", r"/onlineEndpoints/ultrachat-completion$", 1),  # the first step: 10 %
        ("PUT", r"/onlineEndpoints/ultrachat-completion$", 2),  # the last step: 100 %
        ("DELETE", r"/deployments/demo-[0-9a-f]+$", 1),  # retiring the old one
    ],
    ids=["create", "smoke", "step-10", "step-100", "retire"],
)
def test_a_killed_rollout_resumes_to_one_deployment_with_the_new_model(
    emulator, azure_spec, orchestrate, method, pattern, nth
):
    assert orchestrate("apply", azure_spec, "-y").exit_code == 0
    (old,) = _deployments(emulator)
    _update(azure_spec)
    before = len(emulator.requests)
    box = killed_apply(emulator, azure_spec, method, pattern, nth)
    assert "killed_at" in box
    assert sum(_traffic(emulator).values()) == 100  # whatever the step, the endpoint serves
    result = orchestrate("apply", azure_spec, "-y")
    assert result.exit_code == 0, result.output
    (new,) = _deployments(emulator)  # nothing left over
    assert new != old and _traffic(emulator) == {new: 100}
    assert _model_of(emulator, new).endswith(f"/versions/{_latest_model_version(emulator)}")
    creates = [m for m in _mutated(emulator, before) if m.startswith("PUT onlineEndpoints/deployments/")]
    assert creates == [f"PUT onlineEndpoints/deployments/{new}"] * len(creates) and len(creates) <= 2
    assert orchestrate("plan", azure_spec, "--detailed-exitcode").exit_code == 0


def _latest_model_version(em) -> str:
    keys = [k for k in em.resources("versions") if "/models/phi4-ultrachat/" in k]
    return keys[-1].rsplit("/", 1)[1]


def test_the_emulator_refuses_what_azure_refuses(emulator, azure_spec, orchestrate):
    from orchestrator.spec.validate import load_runspec
    from orchestrator.targets.azureml.target import AzureMLTarget

    assert orchestrate("apply", azure_spec, "-y").exit_code == 0
    (serving,) = _deployments(emulator)
    target = AzureMLTarget(load_runspec(azure_spec))
    with pytest.raises(OrchestrateError, match="traffic names deployments that do not exist: ghost"):
        target.set_traffic({serving: 50, "ghost": 50}, {})
    with pytest.raises(OrchestrateError, match=f"deployment {serving} takes 100% of the endpoint's traffic"):
        target.delete_deployment(serving)
    with pytest.raises(OrchestrateError, match="cannot also be mirrored"):
        target.set_traffic({serving: 100}, {serving: 10})
    assert _traffic(emulator) == {serving: 100} and _deployments(emulator) == [serving]


def test_status_invoke_and_destroy_with_a_deployment_of_someone_else(emulator, azure_spec, orchestrate):
    assert orchestrate("apply", azure_spec, "-y").exit_code == 0
    (ours,) = _deployments(emulator)
    # Someone adds a deployment by hand (no orchestrate tags) and gives it a share.
    key = next(iter(emulator.resources("onlineendpoints")))
    handmade = copy.deepcopy(emulator.store[f"{key}/deployments/{ours}"])
    handmade.pop("tags", None)
    handmade.update(id=handmade["id"].rsplit("/", 1)[0] + "/handmade", name="handmade")
    emulator.store[f"{key}/deployments/handmade"] = handmade
    emulator.store[key]["properties"]["traffic"] = {ours: 80, "handmade": 20}
    status = json.loads(orchestrate("status", azure_spec, "-o", "json").output)
    rows = {d["name"]: d for d in status["deployments"]}
    assert rows[ours]["traffic"] == 80 and rows[ours]["ours"] and rows[ours]["scores"]["metric"] == "chrf"
    assert rows["handmade"]["traffic"] == 20 and not rows["handmade"]["ours"]
    one = orchestrate("invoke", azure_spec, "-m", "hello", "--deployment", "handmade")
    assert one.output.strip() == "(emulated handmade) you said: hello"
    plan = orchestrate("destroy", azure_spec, "-y")
    assert plan.exit_code == 0, plan.output
    assert "it also holds handmade, not made by this run (--force deletes it)" in plan.output
    # Azure takes only splits summing to 0 or 100: what stays takes the whole of it.
    assert _deployments(emulator) == ["handmade"] and _traffic(emulator) == {"handmade": 100}
    forced = orchestrate("destroy", azure_spec, "-y", "--force")
    assert forced.exit_code == 0, forced.output
    assert emulator.resources("onlineendpoints") == {}


def test_ctrl_c_during_a_step_gives_the_traffic_back(emulator, azure_spec, orchestrate):
    assert orchestrate("apply", azure_spec, "-y").exit_code == 0
    (old,) = _deployments(emulator)
    _update(azure_spec)
    box: dict = {}
    emulator.on("PUT", r"/onlineEndpoints/ultrachat-completion$", lambda r: box["proc"].send_signal(signal.SIGINT))
    box["proc"] = spawn("apply", azure_spec, "-y")
    assert box["proc"].wait(timeout=120) == 130
    err = box["proc"].stderr.read()
    assert "Traceback" not in err and f"{old} has 100% again" in err, err[-1500:]
    assert _traffic(emulator) == {old: 100} and _deployments(emulator) == [old]
