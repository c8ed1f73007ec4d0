"""The pre-flight against today's catalog: archived and retiring models, allow lists that exist only
in system metadata, quota rows in Azure's published shape, traffic splits Azure refuses, integer
model versions, and apply after destroy, all through the real SDK and the emulator."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta

from tests.targets.azureml.test_apply_azure import _deployment_sku, _mutated, _team_cluster

# Anything that bills or changes the workspace: jobs, clusters, endpoints, deployments.
BILLABLE = re.compile(r"^(PUT|POST|PATCH|DELETE) (jobs|computes|onlineEndpoints)")


def _billable(emulator, since: int = 0) -> list[str]:
    return [m for m in _mutated(emulator, since) if BILLABLE.match(m)]


def _error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("error:")]


def test_an_archived_model_is_refused_by_plan_and_apply_before_anything_is_created(emulator, azure_spec, orchestrate):
    # The seed notebook's model, on SKUs of today (its Standard_NC6s_v3 fails validate: NCv3 retired).
    azure_spec.write_text(azure_spec.read_text().replace("name: Phi-4 ", "name: Phi-3-mini-4k-instruct "))
    for command in (("plan",), ("apply", "-y")):
        result = orchestrate(*command, azure_spec)
        assert result.exit_code == 1, result.output
        (line,) = _error_lines(result.output)
        assert line == (
            "error: model Phi-3-mini-4k-instruct version 15 is archived in registry azureml, retired (its fine-tune "
            "retirement was 2025-08-30); successor: Phi-4; nothing was created"
        )
        assert "Traceback" not in result.output
    assert "FAIL  model lifecycle: model Phi-3-mini-4k-instruct version 15 is archived" in result.output  # the plan
    assert _billable(emulator) == [] and _mutated(emulator, 0) == []
    assert not azure_spec.with_suffix(".lock").exists()  # nothing pinned to an archived version


def test_a_misspelt_model_is_one_line(emulator, azure_spec, orchestrate):
    azure_spec.write_text(azure_spec.read_text().replace("name: Phi-4 ", "name: Phi-44 "))
    result = orchestrate("plan", azure_spec)
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    (line,) = _error_lines(result.output)
    assert "model Phi-44 (latest) not found in registry azureml; check model.name" in line


def test_allow_lists_in_system_metadata_only_refuse_a_deployment_sku_with_a_shared_cluster(
    emulator, azure_spec, orchestrate
):
    catalog = emulator.catalog_entry("Phi-4", "8")
    assert "inference_compute_allow_list" not in catalog["tags"]  # as published today: no allow-list tags
    computes = catalog["system_metadata"]["supportedComputes"]
    computes["inferenceComputes"].remove("Standard_NC40ads_H100_v5")
    _team_cluster(emulator, "Standard_NC24ads_A100_v4")
    azure_spec.write_text(_deployment_sku(azure_spec.read_text(), "Standard_NC40ads_H100_v5"))
    plan = orchestrate("plan", azure_spec)
    assert "uses existing cluster gpu-a100, not managed by this run" in plan.output  # the stage is skipped...
    result = orchestrate("apply", azure_spec, "-y")
    assert result.exit_code == 1
    (line,) = _error_lines(result.output)  # ...its checks are not
    assert "deployment.sku Standard_NC40ads_H100_v5 is not in Phi-4's inference allow list" in line
    assert _billable(emulator) == []


def test_allow_lists_in_system_metadata_only_refuse_a_serverless_instance_type(emulator, azure_spec, orchestrate):
    computes = emulator.catalog_entry("Phi-4", "8")["system_metadata"]["supportedComputes"]
    computes["finetuneComputes"].remove("Standard_NC40ads_H100_v5")
    text = azure_spec.read_text()
    text = text[: text.index("compute:\n")] + text[text.index("finetune:\n") :]
    azure_spec.write_text(
        text.replace("  gpus_per_node: auto", "  gpus_per_node: auto\n  instance_type: Standard_NC40ads_H100_v5")
    )
    result = orchestrate("apply", azure_spec, "-y")
    assert result.exit_code == 1
    assert "finetune.instance_type Standard_NC40ads_H100_v5 is not in Phi-4's fine-tune allow list" in result.output
    assert _billable(emulator) == []


def test_no_published_allow_list_is_said_not_passed(emulator, azure_spec, orchestrate):
    del emulator.catalog_entry("Phi-4", "8")["system_metadata"]["supportedComputes"]
    plan = orchestrate("plan", azure_spec)
    assert plan.exit_code == 0, plan.output
    assert "??    fine-tune SKU: no fine-tune allow list published for Phi-4: compute.sku" in plan.output
    assert "not checked" in plan.output


def test_quota_rows_in_azures_shape_refuse_the_deployment_with_a_shared_cluster(emulator, azure_spec, orchestrate):
    # Three scopes per family (region, this workspace and another, each cluster with the whole
    # limit): the region's row decides, capped by this workspace's; no cluster row shadows it.
    emulator.config.usage["standardNCADSA100v4Family"] = (60, 96)
    _team_cluster(emulator, "Standard_NC24ads_A100_v4")
    result = orchestrate("apply", azure_spec, "-y")
    assert result.exit_code == 1
    (line,) = _error_lines(result.output)
    # The shared cluster's nodes are its owner's to count: only the deployment's 48 are.
    assert "the deployment needs 48 vCPUs of standardNCADSA100v4Family (Dedicated); 36 are free" in line
    assert "the fine-tune needs" not in line
    assert "Standard NCADSA100v4 Family Cluster Dedicated vCPUs, region: limit 96, in use 60" in line
    assert _billable(emulator) == []


def test_quota_rows_that_match_no_family_are_said_undecided(emulator, azure_spec, orchestrate):
    emulator.config.usage.pop("standardNCADSA100v4Family")
    plan = orchestrate("plan", azure_spec)
    assert plan.exit_code == 0, plan.output
    assert "??    quota: the fine-tune needs 24 and the deployment needs 48 vCPUs of standardNCADSA100v4Family" in (
        plan.output
    )
    assert "Azure reports no Dedicated usage row for this family; not checked" in plan.output


def test_traffic_50_on_a_first_rollout_is_refused_before_anything_billable(emulator, azure_spec, orchestrate):
    azure_spec.write_text(
        azure_spec.read_text()
        .replace("  traffic: 100\n", "  traffic: 50\n")
        .replace("- {traffic: 100}", "- {traffic: 50}")
    )
    assert orchestrate("validate", azure_spec).exit_code == 0
    result = orchestrate("apply", azure_spec, "-y")
    assert result.exit_code == 1
    (line,) = _error_lines(result.output)
    assert (
        "deployment.traffic 50 leaves the endpoint's traffic at 50%; Azure accepts a split that sums to 0 or 100"
        in line
    )
    assert _billable(emulator) == []


def test_registered_versions_are_integers_and_apply_destroy_apply_converges(emulator, azure_spec, orchestrate):
    assert orchestrate("apply", azure_spec, "-y").exit_code == 0
    versions = [k.rsplit("/", 1)[1] for k in emulator.resources("versions") if "/models/phi4-ultrachat/" in k]
    assert versions == ["1"]
    before = len(emulator.requests)
    again = orchestrate("apply", azure_spec, "-y")
    assert again.exit_code == 0 and "No changes" in again.output, again.output
    assert _mutated(emulator, before) == []

    assert orchestrate("destroy", azure_spec, "-y").exit_code == 0
    model = next(v for k, v in emulator.resources("versions").items() if "/models/phi4-ultrachat/versions/1" in k)
    assert model["properties"]["isArchived"] is True
    result = orchestrate("apply", azure_spec, "-y")
    assert result.exit_code == 0, result.output
    assert "restored phi4-ultrachat:1, archived by destroy" in result.output
    plan = orchestrate("plan", azure_spec, "--detailed-exitcode")
    assert plan.exit_code == 0, plan.output
    # One version still, active, and the deployment serves it.
    versions = {
        k.rsplit("/", 1)[1]: v for k, v in emulator.resources("versions").items() if "/models/phi4-ultrachat/" in k
    }
    assert list(versions) == ["1"] and not versions["1"]["properties"]["isArchived"]
    (deployment,) = emulator.resources("deployments").values()
    assert deployment["properties"]["model"].endswith("/models/phi4-ultrachat/versions/1")
    data = [v for k, v in emulator.resources("versions").items() if "/data/phi4-ultrachat-" in k]
    assert data and not any(v["properties"].get("isArchived") for v in data)


def test_a_change_registers_the_next_integer_version(emulator, azure_spec, orchestrate):
    assert orchestrate("apply", azure_spec, "-y").exit_code == 0
    azure_spec.write_text(azure_spec.read_text().replace("learning_rate: 5.0e-6", "learning_rate: 1.0e-5"))
    assert orchestrate("apply", azure_spec, "-y").exit_code == 0
    versions = sorted(k.rsplit("/", 1)[1] for k in emulator.resources("versions") if "/models/phi4-ultrachat/" in k)
    assert versions == ["1", "2"]
    tags = {
        v: emulator.store[k]["properties"]["tags"]["orchestrate.fingerprint"]
        for k in emulator.resources("versions")
        if "/models/phi4-ultrachat/" in k
        for v in [k.rsplit("/", 1)[1]]
    }
    assert tags["1"] != tags["2"]


def test_a_model_retiring_within_90_days_warns_in_plan_status_and_lock_check(emulator, azure_spec, orchestrate):
    soon = (date.today() + timedelta(days=30)).isoformat()
    emulator.catalog_entry("Phi-4", "8")["system_metadata"]["deprecation"] = {
        "finetuneRetirementDate": f"{soon}T00:00:00.000000Z",
        "inferenceRetirementDate": f"{soon}T00:00:00.000000Z",
    }
    plan = orchestrate("plan", azure_spec)
    assert plan.exit_code == 0, plan.output
    warning = f"model Phi-4 version 8 retires in 30 days: its fine-tune retirement is {soon}"
    assert f"warn  model lifecycle: {warning}" in plan.output
    assert orchestrate("apply", azure_spec, "-y").exit_code == 0  # a warning does not stop the run
    status = orchestrate("status", azure_spec)
    assert warning in status.output
    checks = json.loads(orchestrate("status", azure_spec, "-o", "json").output)["checks"]
    assert {"name": "model lifecycle", "verdict": "warn", "message": warning} in checks
    check = orchestrate("lock", "--check", azure_spec)
    assert check.exit_code == 2 and "retiring" in check.output and warning in check.output


def test_an_endpoint_name_taken_in_the_region_stops_the_run_before_the_job(emulator, azure_spec, orchestrate):
    emulator.config.taken.add("ultrachat-completion")  # another subscription's endpoint, same region
    result = orchestrate("apply", azure_spec, "-y")
    assert result.exit_code == 1
    (line,) = _error_lines(result.output)
    assert line == (
        "error: endpoint name ultrachat-completion is taken in this region (endpoint names are unique per Azure "
        "region, across subscriptions): set deployment.endpoint to another name; no job was submitted"
    )
    assert not [m for m in _mutated(emulator, 0) if m.startswith("PUT jobs")]
    assert emulator.resources("onlineendpoints") == {}


def test_a_check_whose_read_fails_is_said_undecided_and_destroy_still_works(emulator, azure_spec, orchestrate):
    assert orchestrate("apply", azure_spec, "-y").exit_code == 0
    emulator.fail("GET", r"/usages$", 403, code="AuthorizationFailed", times=-1)  # a role without quota reads
    plan = orchestrate("plan", azure_spec)
    assert plan.exit_code == 0, plan.output
    assert "??    compute checks: could not be read: read the quota failed: 403 AuthorizationFailed" in plan.output
    result = orchestrate("destroy", azure_spec, "-y")
    assert result.exit_code == 0, result.output
    assert emulator.resources("onlineendpoints") == {}
