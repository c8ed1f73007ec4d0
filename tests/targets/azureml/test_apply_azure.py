"""orchestrate apply/status/destroy/invoke on target azureml: the real azure-ai-ml SDK, unmodified,
doing its real HTTPS requests against the emulator."""

from __future__ import annotations

import json
import re

from tests.conftest import SPECS, STAGE_ORDER
from tests.targets.azureml.emulator import AzureEmulator


def _kinds(em: AzureEmulator) -> dict[str, int]:
    """How many of each resource the emulator holds (versions and deployments included)."""
    return {
        kind: len([k for k in em.resources(kind) if "/workspaces/" in k])
        for kind in ("jobs", "versions", "onlineendpoints", "deployments", "computes")
    }


def _deployment_sku(text: str, sku: str) -> str:
    """The spec text with another deployment.sku (the one under `deployment:`)."""
    head, tail = text.split("\ndeployment:\n", 1)
    return head + "\ndeployment:\n" + re.sub(r"  sku: \S+", f"  sku: {sku}", tail, count=1)


def _tags(res: dict) -> dict:
    """ARM resources carry tags at the top; assets and jobs in properties.tags (their wire format)."""
    return res.get("tags") or res["properties"].get("tags") or {}


def _mutated(em: AzureEmulator, since: int) -> list[str]:
    """'METHOD kind/name' of every create/update/delete since request number `since`."""
    out = []
    for r in em.mutations(since):
        path = r.path.split("?")[0]
        m = re.search(
            r"/(computes|data|models|jobs|onlineEndpoints)/([^/]+)(/versions/[^/]+|/deployments/[^/]+)?$", path
        )
        out.append(f"{r.method} {m.group(1)}{m.group(3) or ''}" if m else f"{r.method} {r.host.split('.')[0]}{path}")
    return out


def test_fresh_apply_creates_everything_and_answers(emulator, azure_spec, orchestrate, tmp_path):
    result = orchestrate("apply", azure_spec, "-y")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Apply complete: 9 to create" in out
    assert re.search(r"answer: \(emulated demo-[0-9a-f]{6}\) you said:", out)
    # The job ran the registry component with the spec's parameters and the uploaded data.
    (job,) = emulator.resources("jobs").values()
    node = job["properties"]["jobs"]["finetune"]
    assert node["componentId"].startswith("azureml://registries/azureml/components/chat_completion_pipeline")
    assert node["inputs"]["learning_rate"]["value"] in ("5e-06", 5e-06)
    assert node["inputs"]["number_of_gpu_to_use_finetuning"]["value"] in ("1", 1)  # from vmSizes (auto)
    assert _tags(job)["orchestrate.run"] == "phi4-ultrachat"
    # Every resource carries the run's tags.
    for kind in ("onlineendpoints", "deployments", "computes"):
        for res in emulator.resources(kind).values():
            assert _tags(res)["orchestrate.run"] == "phi4-ultrachat", (kind, res)
    model = next(v for k, v in emulator.resources("versions").items() if "/models/phi4-ultrachat/" in k)
    assert model["properties"]["modelUri"].startswith("azureml://jobs/phi4-ultrachat-ft-")
    endpoint = next(iter(emulator.resources("onlineendpoints").values()))
    (deployed,) = [k.rsplit("/", 1)[1] for k in emulator.resources("deployments")]
    assert endpoint["properties"]["traffic"] == {deployed: 100} and re.fullmatch(r"demo-[0-9a-f]{6}", deployed)
    assert endpoint["properties"]["authMode"].lower() == "key"
    deployment = next(iter(emulator.resources("deployments").values()))
    assert deployment["properties"]["livenessProbe"]["initialDelay"] == "PT10M"  # 600 s from the spec
    assert deployment["sku"]["capacity"] == 1
    # The endpoint key never leaves memory: not in the output, not in any state file.
    for key in emulator.keys.values():
        assert key not in out
        for file in (tmp_path / "state").rglob("*"):
            if file.is_file():
                assert key not in file.read_text(errors="replace"), file


def test_second_apply_makes_no_create_or_update_call(emulator, azure_spec, orchestrate):
    assert orchestrate("apply", azure_spec, "-y").exit_code == 0
    before = len(emulator.requests)
    result = orchestrate("apply", azure_spec, "-y")
    assert result.exit_code == 0, result.output
    assert "No changes: every stage is up to date." in result.output
    assert _mutated(emulator, before) == []
    assert "resolves to Phi-4 version 8" in result.output  # plan pins latest


def test_second_apply_from_a_fresh_clone_reads_state_from_azure_tags(emulator, azure_spec, orchestrate, tmp_path):
    assert orchestrate("apply", azure_spec, "-y").exit_code == 0
    import shutil

    shutil.rmtree(tmp_path / "state")  # another machine: no local cache at all
    before = len(emulator.requests)
    result = orchestrate("plan", azure_spec, "-o", "json")
    plan = json.loads(result.output)
    actions = {s["name"]: s["action"] for s in plan["stages"]}
    # Only what has no Azure resource of its own (the model resolution, the smoke test) reruns.
    assert {k for k, v in actions.items() if v != "skip"} == {"model", "smoke_test"}, actions
    assert _mutated(emulator, before) == []


def test_changing_a_finetune_parameter_reruns_finetune_and_what_follows(emulator, azure_spec, orchestrate):
    assert orchestrate("apply", azure_spec, "-y").exit_code == 0
    azure_spec.write_text(azure_spec.read_text().replace("learning_rate: 5.0e-6", "learning_rate: 1.0e-5"))
    plan = json.loads(orchestrate("plan", azure_spec, "-o", "json").output)
    actions = {s["name"]: (s["action"], s["reason"]) for s in plan["stages"]}
    assert actions["finetune"] == ("replace", "changed: learning_rate")
    assert {k for k, (a, _) in actions.items() if a != "skip"} == {
        "finetune",
        "register",
        "deployment",
        "smoke_test",
        "traffic",
    }
    (old,) = _deployments(emulator)
    assert actions["deployment"][1] == f"create beside {old} (serving 100%)"
    assert actions["traffic"][1] == f"smoke and evaluate at 0 %; traffic 10 % for 1 s, then 100 %; then delete {old}"
    before = len(emulator.requests)
    result = orchestrate("apply", azure_spec, "-y")
    assert result.exit_code == 0, result.output
    (new,) = _deployments(emulator)
    assert new != old
    assert _mutated(emulator, before) == [
        "PUT jobs",
        "PUT models/versions/" + _short_version(emulator, 2),
        f"PUT onlineEndpoints/deployments/{new}",  # beside the serving one, at 0 %
        "PUT onlineEndpoints",  # the traffic, once the new one passed its gates: 10 %,
        "PUT onlineEndpoints",  # then 100 %
        f"DELETE onlineEndpoints/deployments/{old}",
    ]
    assert _kinds(emulator)["jobs"] == 2


def _deployments(em: AzureEmulator) -> list[str]:
    return [k.rsplit("/", 1)[1] for k in em.resources("deployments")]


def _short_version(em: AzureEmulator, nth: int) -> str:
    keys = [k for k in em.resources("versions") if "/models/phi4-ultrachat/" in k]
    return keys[nth - 1].rsplit("/", 1)[1]


def test_changing_instance_count_updates_only_the_deployment(emulator, azure_spec, orchestrate):
    assert orchestrate("apply", azure_spec, "-y").exit_code == 0
    azure_spec.write_text(azure_spec.read_text().replace("instance_count: 1", "instance_count: 2"))
    before = len(emulator.requests)
    result = orchestrate("apply", azure_spec, "-y")
    assert result.exit_code == 0, result.output
    assert _mutated(emulator, before) == [f"PUT onlineEndpoints/deployments/{_deployments(emulator)[0]}"]
    assert next(iter(emulator.resources("deployments").values()))["sku"]["capacity"] == 2


def test_status_shows_drift_and_the_scoring_uri_never_the_key(emulator, azure_spec, orchestrate):
    assert orchestrate("apply", azure_spec, "-y").exit_code == 0
    next(iter(emulator.resources("deployments").values()))["sku"]["capacity"] = 3  # changed by hand in the portal
    result = orchestrate("status", azure_spec, "-o", "json")
    assert result.exit_code == 0, result.output
    rows = {r["stage"]: r for r in json.loads(result.output)["stages"]}
    assert rows["deployment"]["drift"] == "drift: instance_count is 3 on Azure, 1 in the spec"
    assert rows["deployment"]["scoring_uri"] == "https://ultrachat-completion.eastus.inference.ml.azure.com/score"
    assert rows["finetune"]["state"] == "present" and rows["finetune"]["drift"] == ""
    assert not any(k in result.output for k in emulator.keys.values())


def test_invoke_answers_without_showing_the_key(emulator, azure_spec, orchestrate):
    assert orchestrate("apply", azure_spec, "-y").exit_code == 0
    result = orchestrate("invoke", azure_spec, "-m", "hello there")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"(emulated {_deployments(emulator)[0]}) you said: hello there"


def test_transient_storms_are_retried(emulator, azure_spec, orchestrate):
    fast = {"x-ms-retry-after-ms": "1"}
    throttled = emulator.fail("PUT", r"/jobs/", 429, times=4, code="TooManyRequests", headers=fast)
    flaky = emulator.fail("GET", r"/onlineEndpoints/[^/]+$", 500, times=3, headers=fast)
    busy = emulator.fail("PUT", r"/deployments/demo-[0-9a-f]+$", 409, times=2, code="Conflict", headers=fast)
    dropped = emulator.fail("GET", r"/computes/", 0, times=2, drop=True)
    result = orchestrate("apply", azure_spec, "-y")
    assert result.exit_code == 0, result.output
    assert (throttled.hits, flaky.hits, busy.hits, dropped.hits) == (4, 3, 2, 2)
    assert _kinds(emulator) == {"jobs": 1, "versions": 3, "onlineendpoints": 1, "deployments": 1, "computes": 1}


def test_permanent_errors_fail_fast_with_azure_code(emulator, azure_spec, orchestrate):
    bad = emulator.fail("PUT", r"/jobs/", 400, times=-1, code="UserError")
    result = orchestrate("apply", azure_spec, "-y")
    assert result.exit_code == 1
    assert bad.hits == 1  # not retried
    assert (
        "error: submit job phi4-ultrachat-ft-" in result.output
        and "400 UserError: injected 400 UserError" in result.output
    )
    assert "Traceback" not in result.output


def test_retries_are_bounded(emulator, azure_spec, orchestrate):
    storm = emulator.fail(
        "PUT", r"/models/", 503, times=-1, code="ServiceUnavailable", headers={"x-ms-retry-after-ms": "1"}
    )
    result = orchestrate("apply", azure_spec, "-y")
    assert result.exit_code == 1
    assert "(after 6 attempts)" in result.output and "ServiceUnavailable" in result.output
    assert storm.hits < 100  # azure-core's own retries times ours, and then it stops


def test_failed_job_stops_apply_with_its_log_url_and_a_rerun_gets_a_new_name(
    emulator, azure_spec, orchestrate, tmp_path
):
    emulator.config.job_outcome = "Failed"
    emulator.config.lro_ticks = 25  # the endpoint is still being created when the job fails
    result = orchestrate("apply", azure_spec, "-y")
    assert result.exit_code == 1
    # apply waited for the endpoint it had started, and recorded it: no endpoint the state does not know.
    assert "endpoint: done" in result.output
    state = json.loads((tmp_path / "state" / "phi4-ultrachat" / "state.json").read_text())
    assert "endpoint" in state["stages"] and emulator.resources("onlineendpoints")
    emulator.config.lro_ticks = 2
    assert re.search(
        r"fine-tune job phi4-ultrachat-ft-\w+ Failed at step chat_completion_finetune; "
        r"logs: https://ml.azure.com/runs/phi4-ultrachat-ft-\w+\?wsid=",
        result.output,
    ), result.output
    assert not [k for k in emulator.resources("versions") if "/models/phi4-ultrachat/" in k]  # nothing registered
    plan = json.loads(orchestrate("plan", azure_spec, "-o", "json").output)
    finetune = next(s for s in plan["stages"] if s["name"] == "finetune")
    assert finetune["action"] == "create"
    assert re.fullmatch(r"job (phi4-ultrachat-ft-\w+) Failed: apply submits \1-2", finetune["reason"]), finetune[
        "reason"
    ]
    emulator.config.job_outcome = "Completed"
    result = orchestrate("apply", azure_spec, "-y")
    assert result.exit_code == 0, result.output
    assert sorted(k.rsplit("/", 1)[1][-2:] for k in emulator.resources("jobs")) == [
        "-2",
        sorted(k.rsplit("/", 1)[1] for k in emulator.resources("jobs"))[0][-2:],
    ]


def _update_with_a_failing_deployment(emulator, azure_spec, orchestrate, old: str, new: str):
    """Apply, change the spec, apply again while Azure fails every deployment: (serving, result)."""
    assert orchestrate("apply", azure_spec, "-y").exit_code == 0
    (serving,) = _deployments(emulator)
    azure_spec.write_text(azure_spec.read_text().replace(old, new))
    emulator.config.deployment_outcome = "Failed"
    result = orchestrate("apply", azure_spec, "-y")
    assert result.exit_code == 1 and "Traceback" not in result.output
    return serving, result


def test_a_new_deployment_that_fails_is_deleted_and_the_serving_one_keeps_its_traffic(
    emulator, azure_spec, orchestrate
):
    serving, result = _update_with_a_failing_deployment(
        emulator, azure_spec, orchestrate, "learning_rate: 5.0e-6", "learning_rate: 1.0e-5"
    )
    assert re.search(r"deployment ultrachat-completion/demo-[0-9a-f]{6} failed", result.output)
    assert f"{serving} kept its 100%" in result.output
    assert "liveness probe failed" in result.output  # the deployment's log lines
    endpoint = next(iter(emulator.resources("onlineendpoints").values()))
    assert endpoint["properties"]["traffic"] == {serving: 100}
    assert _deployments(emulator) == [serving]  # the failed one bills no more


def test_a_failed_scale_update_leaves_the_serving_deployment_its_traffic(emulator, azure_spec, orchestrate):
    serving, result = _update_with_a_failing_deployment(
        emulator, azure_spec, orchestrate, "instance_count: 1", "instance_count: 2"
    )
    assert f"{serving} keeps its 100%: nothing else serves" in result.output
    assert next(iter(emulator.resources("onlineendpoints").values()))["properties"]["traffic"] == {serving: 100}


def test_a_failed_first_smoke_test_deletes_the_deployment(emulator, azure_spec, orchestrate):
    emulator.config.scoring_status = 500
    result = orchestrate("apply", azure_spec, "-y")
    assert result.exit_code == 1
    assert re.search(r"smoke test of demo-[0-9a-f]{6} failed: HTTP 500", result.output)
    endpoint = next(iter(emulator.resources("onlineendpoints").values()))
    assert not any(endpoint["properties"]["traffic"].values())
    assert _deployments(emulator) == []


def test_compute_sku_outside_the_models_allow_list_fails_before_anything_billable(emulator, azure_spec, orchestrate):
    text = azure_spec.read_text()
    azure_spec.write_text(text.replace("sku: Standard_NC24ads_A100_v4", "sku: Standard_ND40rs_v2", 1))  # compute.sku
    result = orchestrate("apply", azure_spec, "-y")
    assert result.exit_code == 1
    assert "compute.sku Standard_ND40rs_v2 is not in Phi-4's fine-tune allow list" in result.output
    assert _mutated(emulator, 0) == []  # the pre-flight comes first: not even the data is uploaded


def test_endpoint_of_another_run_is_refused_and_left_alone(emulator, azure_spec, orchestrate):
    ws = (
        "/subscriptions/00000000-0000-0000-0000-00000000aaaa/resourcegroups/rg-llm/providers/"
        "microsoft.machinelearningservices/workspaces/ws-llm"
    )
    emulator.store[f"{ws}/onlineendpoints/ultrachat-completion"] = {
        "id": f"{ws}/onlineEndpoints/ultrachat-completion",
        "name": "ultrachat-completion",
        "location": "eastus",
        "tags": {"owner": "another team"},
        "identity": {"type": "SystemAssigned"},
        "properties": {"authMode": "Key", "provisioningState": "Succeeded", "traffic": {}},
    }
    result = orchestrate("apply", azure_spec, "-y")
    assert result.exit_code == 1
    assert "endpoint ultrachat-completion exists and was not created by run phi4-ultrachat" in result.output
    assert "PUT onlineEndpoints" not in _mutated(emulator, 0) and "PUT jobs" not in _mutated(emulator, 0)


def test_destroy_removes_exactly_what_the_run_created(emulator, azure_spec, orchestrate):
    ws = (
        "/subscriptions/00000000-0000-0000-0000-00000000aaaa/resourcegroups/rg-llm/providers/"
        "microsoft.machinelearningservices/workspaces/ws-llm"
    )
    foreign = f"{ws}/onlineendpoints/someone-elses"
    emulator.store[foreign] = {
        "id": foreign,
        "name": "someone-elses",
        "location": "eastus",
        "tags": {},
        "properties": {"authMode": "Key", "provisioningState": "Succeeded", "traffic": {}},
    }
    assert orchestrate("apply", azure_spec, "-y").exit_code == 0
    before = len(emulator.requests)
    result = orchestrate("destroy", azure_spec, "-y")
    assert result.exit_code == 0, result.output
    assert list(emulator.resources("onlineendpoints")) == [foreign]
    assert emulator.resources("deployments") == {} and emulator.resources("computes") == {}
    archived = {
        k.split("/")[-3]: v["properties"].get("isArchived")
        for k, v in emulator.resources("versions").items()
        if "/workspaces/" in k
    }
    assert archived == {"phi4-ultrachat-test": True, "phi4-ultrachat-train": True, "phi4-ultrachat": True}
    assert all(m.split()[0] in ("DELETE", "PUT") for m in _mutated(emulator, before))
    again = orchestrate("destroy", azure_spec, "-y")
    assert again.exit_code == 0 and "Nothing to destroy." in again.output, again.output


def test_authentication_failure_is_one_line(emulator, azure_spec, orchestrate, tmp_path, monkeypatch):
    broken = tmp_path / "broken-bin"
    broken.mkdir()
    (broken / "az").write_text("#!/bin/sh\necho 'ERROR: Please run az login to setup account.' >&2\nexit 1\n")
    (broken / "az").chmod(0o755)
    monkeypatch.setenv("PATH", f"{broken}:/usr/bin:/bin")
    result = orchestrate("plan", azure_spec)
    assert result.exit_code == 1
    assert "authentication failed with credential cli" in result.output and "az login" in result.output
    assert "plan --offline" in result.output
    assert "Traceback" not in result.output
    assert emulator.mutations() == []


def test_plan_offline_makes_no_request(emulator, azure_spec, orchestrate):
    result = orchestrate("plan", azure_spec, "--offline")
    assert result.exit_code == 0 and "9 to create" in result.output
    assert emulator.requests == []


def test_teardown_after_the_smoke_test_stays_done(emulator, azure_spec, orchestrate):
    azure_spec.write_text(azure_spec.read_text().replace("after_smoke_test: false", "after_smoke_test: true"))
    result = orchestrate("apply", azure_spec, "-y")
    assert result.exit_code == 0, result.output
    assert "answer: (emulated demo-" in result.output
    assert emulator.resources("onlineendpoints") == {} and emulator.resources("deployments") == {}
    before = len(emulator.requests)
    again = orchestrate("apply", azure_spec, "-y")
    assert again.exit_code == 0 and "No changes" in again.output, again.output
    assert "torn down after its smoke test passed" in again.output
    assert _mutated(emulator, before) == []


def test_deployment_sku_outside_the_inference_allow_list_is_refused(emulator, azure_spec, orchestrate):
    azure_spec.write_text(_deployment_sku(azure_spec.read_text(), "Standard_NC4as_T4_v3"))
    result = orchestrate("apply", azure_spec, "-y")
    assert result.exit_code == 1
    assert "deployment.sku Standard_NC4as_T4_v3 is not in Phi-4's inference allow list" in result.output


def test_a_failed_cluster_is_reported_not_used(emulator, azure_spec, orchestrate):
    ws = (
        "/subscriptions/00000000-0000-0000-0000-00000000aaaa/resourcegroups/rg-llm/providers/"
        "microsoft.machinelearningservices/workspaces/ws-llm"
    )
    emulator.store[f"{ws}/computes/gpu-a100"] = {
        "id": f"{ws}/computes/gpu-a100",
        "name": "gpu-a100",
        "location": "eastus",
        "properties": {
            "computeType": "AmlCompute",
            "provisioningState": "Failed",
            "properties": {
                "vmSize": "Standard_NC24ads_A100_v4",
                "scaleSettings": {"minNodeCount": 0, "maxNodeCount": 1},
            },
        },
    }
    plan = orchestrate("plan", azure_spec)
    assert "cluster gpu-a100 is in state Failed" in plan.output
    result = orchestrate("apply", azure_spec, "-y")
    assert result.exit_code == 1
    assert "compute cluster gpu-a100 is in provisioning state Failed" in result.output
    assert "PUT jobs" not in _mutated(emulator, 0)


def test_apply_json_is_pure_ndjson_on_stdout(emulator, azure_spec):
    from click.testing import CliRunner

    from orchestrator.cli import cli

    result = CliRunner().invoke(cli, ["apply", str(azure_spec), "-y", "-o", "json"], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]  # every line is JSON: no SDK dots
    finished = [e["stage"] for e in events if e["event"] == "finished"]
    assert finished == STAGE_ORDER


def test_workspace_from_a_config_file(emulator, azure_spec, orchestrate, tmp_path):
    (tmp_path / "config.json").write_text(
        json.dumps(
            {
                "subscription_id": "00000000-0000-0000-0000-00000000aaaa",
                "resource_group": "rg-llm",
                "workspace_name": "ws-llm",
            }
        )
    )
    text = azure_spec.read_text()
    text = re.sub(r"  subscription_id: .*\n  resource_group: .*\n  name: .*\n", "  config_file: config.json\n", text)
    azure_spec.write_text(text)
    result = orchestrate("apply", azure_spec, "-y")
    assert result.exit_code == 0, result.output
    assert "/workspaces/ws-llm/onlineendpoints/ultrachat-completion" in next(
        iter(emulator.resources("onlineendpoints"))
    )


def test_a_saved_plan_applies_only_while_azure_is_as_it_was(emulator, azure_spec, orchestrate, tmp_path):
    saved = tmp_path / "plan.json"
    assert orchestrate("plan", azure_spec, "--out", saved).exit_code == 0
    result = orchestrate("apply", saved)
    assert result.exit_code == 0, result.output
    assert orchestrate("plan", azure_spec, "--out", saved).exit_code == 0  # everything up to date
    for key in list(emulator.resources("deployments")):  # someone deletes the deployment meanwhile
        del emulator.store[key]
    result = orchestrate("apply", saved)
    assert result.exit_code == 1
    assert "the target's state changed since the plan was saved" in result.output


def test_destroy_can_keep_the_model_and_the_data(emulator, azure_spec, orchestrate):
    assert orchestrate("apply", azure_spec, "-y").exit_code == 0
    result = orchestrate("destroy", azure_spec, "-y", "--keep-model-and-data")
    assert result.exit_code == 0, result.output
    assert emulator.resources("onlineendpoints") == {}
    archived = [
        k
        for k, v in emulator.resources("versions").items()
        if "/workspaces/" in k and v["properties"].get("isArchived")
    ]
    assert archived == []
    assert re.search(r"register +skip .* kept, as asked", result.output)


def test_unchanged_data_is_not_uploaded_twice(emulator, azure_spec, orchestrate):
    assert orchestrate("apply", azure_spec, "-y").exit_code == 0
    # The same folder by another path: a new data fingerprint, the same bytes.
    text = azure_spec.read_text()
    source = re.search(r"source: (.*)", text).group(1)
    azure_spec.write_text(text.replace(f"source: {source}", f"source: {source}/../quickstart-chat"))
    before = len(emulator.requests)
    result = orchestrate("apply", azure_spec, "-y")
    assert result.exit_code == 0, result.output
    mutated = _mutated(emulator, before)
    assert not [m for m in mutated if m.startswith(("PUT data", "PUT wsstorage01"))], mutated
    assert "PUT jobs" in mutated  # the data fingerprint changed, so the fine-tune follows
    before = len(emulator.requests)
    again = orchestrate("apply", azure_spec, "-y")
    assert again.exit_code == 0 and "No changes" in again.output, again.output
    assert _mutated(emulator, before) == []


def _team_cluster(emulator, size: str) -> str:
    """A cluster someone else made (no orchestrate tags), with other min/max than the spec's 0..1."""
    ws = (
        "/subscriptions/00000000-0000-0000-0000-00000000aaaa/resourcegroups/rg-llm/providers/"
        "microsoft.machinelearningservices/workspaces/ws-llm"
    )
    key = f"{ws}/computes/gpu-a100"
    emulator.store[key] = {
        "id": f"{ws}/computes/gpu-a100",
        "name": "gpu-a100",
        "location": "eastus",
        "tags": {"team": "nlp"},
        "properties": {
            "computeType": "AmlCompute",
            "provisioningState": "Succeeded",
            "properties": {"vmSize": size, "scaleSettings": {"minNodeCount": 0, "maxNodeCount": 2}},
        },
    }
    return key


def test_a_shared_cluster_is_used_as_it_is(emulator, azure_spec, orchestrate):
    key = _team_cluster(emulator, "Standard_NC24ads_A100_v4")
    before = json.dumps(emulator.store[key], sort_keys=True)
    plan = orchestrate("plan", azure_spec)
    assert "uses existing cluster gpu-a100, not managed by this run: 0..2 instances" in plan.output
    result = orchestrate("apply", azure_spec, "-y")
    assert result.exit_code == 0, result.output
    assert not [m for m in _mutated(emulator, 0) if m.startswith(("PUT computes", "DELETE computes", "PATCH computes"))]
    assert json.dumps(emulator.store[key], sort_keys=True) == before
    (job,) = emulator.resources("jobs").values()
    assert job["properties"]["jobs"]["finetune"]["inputs"]["compute_finetune"]["value"] == "gpu-a100"
    # destroy leaves it: the run did not create it
    assert orchestrate("destroy", azure_spec, "-y").exit_code == 0
    assert json.dumps(emulator.store[key], sort_keys=True) == before


def test_a_shared_cluster_of_another_size_is_refused_before_anything_billable(emulator, azure_spec, orchestrate):
    _team_cluster(emulator, "Standard_NC48ads_A100_v4")
    plan = orchestrate("plan", azure_spec)
    assert "cluster gpu-a100 is Standard_NC48ads_A100_v4, not Standard_NC24ads_A100_v4" in plan.output
    result = orchestrate("apply", azure_spec, "-y")
    assert result.exit_code == 1
    assert "compute cluster gpu-a100 exists with size Standard_NC48ads_A100_v4" in result.output
    billable = ("PUT computes", "PUT jobs", "PUT onlineEndpoints", "PATCH", "DELETE")
    assert not [m for m in _mutated(emulator, 0) if m.startswith(billable)], _mutated(emulator, 0)


def test_a_failed_sign_in_shows_orchestrates_lines_only(emulator, azure_spec, tmp_path, monkeypatch):
    """Not `default`: its managed-identity probe would call the instance metadata address."""
    from tests.targets.azureml.conftest import spawn

    broken = tmp_path / "broken-bin"
    broken.mkdir()
    (broken / "az").write_text("#!/bin/sh\necho 'ERROR: Please run az login to setup account.' >&2\nexit 1\n")
    (broken / "az").chmod(0o755)
    monkeypatch.setenv("PATH", f"{broken}:/usr/bin:/bin")
    for name in ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "ORCHESTRATE_DEBUG"):
        monkeypatch.delenv(name, raising=False)
    text = azure_spec.read_text()
    for kind in ("cli", "environment"):
        azure_spec.write_text(text.replace("credential: cli", f"credential: {kind}"))
        _, err = (proc := spawn("plan", azure_spec)).communicate(timeout=120)
        assert proc.returncode == 1, err
        lines = err.strip().splitlines()
        assert len(lines) <= 4 and lines[0].startswith(f"error: authentication failed with credential {kind}"), err
        assert "get_token" not in err
    monkeypatch.setenv("ORCHESTRATE_DEBUG", "1")  # the SDK's own lines are there for whoever asks
    _, err = spawn("plan", azure_spec).communicate(timeout=120)
    assert "EnvironmentCredential.get_token" in err


def test_a_hub_dataset_is_read_with_the_azureml_extra(emulator, azure_spec, orchestrate):
    """The reference workflow samples a Hub dataset: the azureml extra brings `datasets` (it lacked it
    once, and the data stage died with ModuleNotFoundError). Offline here, so the Hub answers no."""
    text = azure_spec.read_text().replace(
        f"source: {SPECS / 'data' / 'quickstart-chat'}", "source: HuggingFaceH4/ultrachat_200k"
    )
    azure_spec.write_text(text.replace("from: train,", "from: train_sft,").replace("from: test,", "from: test_sft,"))
    result = orchestrate("apply", azure_spec, "-y")
    assert result.exit_code == 1
    assert "of dataset 'HuggingFaceH4/ultrachat_200k' (HF_HUB_OFFLINE is set)" in result.output
    assert "needs the Python package" not in result.output and "Traceback" not in result.output
