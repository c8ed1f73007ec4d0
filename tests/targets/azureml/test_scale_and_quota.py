"""Quota, multi-node fine-tunes and the base model's own defaults, against the emulator."""

from __future__ import annotations

from tests.targets.azureml.test_apply_azure import _mutated

BILLABLE = ("PUT jobs", "PUT computes", "PUT onlineEndpoints", "PATCH", "DELETE")


def _billable(emulator) -> list[str]:
    return [m for m in _mutated(emulator, 0) if m.startswith(BILLABLE)]


A100 = "standardNCADSA100v4Family"  # the reference spec's fine-tune and deployment SKUs, 24 vCPUs each


def test_the_quota_for_both_is_refused_before_anything_billable(emulator, azure_spec, orchestrate):
    emulator.config.usage[A100] = (50, 96)
    result = orchestrate("apply", azure_spec, "-y")
    assert result.exit_code == 1
    # 1 node (24 vCPUs), and 1 instance plus Azure's 20 % upgrade reserve: 2 instances' worth (48).
    assert (
        f"the fine-tune needs 24 and the deployment needs 48 vCPUs of {A100} (Dedicated); 46 are free "
        "(Standard NCADSA100v4 Family Cluster Dedicated vCPUs, region: limit 96, in use 50;"
    ) in result.output
    assert "request more quota or choose another SKU; nothing was created" in result.output
    assert _billable(emulator) == []


def test_a_cluster_without_free_vcpus_is_refused_before_anything_billable(emulator, azure_spec, orchestrate):
    emulator.config.usage[A100] = (90, 96)
    result = orchestrate("apply", azure_spec, "-y")
    assert result.exit_code == 1
    assert f"the fine-tune needs 24 and the deployment needs 48 vCPUs of {A100} (Dedicated); 6 are free" in (
        result.output
    )
    assert _billable(emulator) == []


def test_with_enough_quota_the_apply_completes_having_read_it(emulator, azure_spec, orchestrate):
    emulator.config.usage[A100] = (24, 96)  # exactly the 72 the fine-tune and the deployment need
    result = orchestrate("apply", azure_spec, "-y")
    assert result.exit_code == 0, result.output
    assert any("/usages" in r.path for r in emulator.requests)


def test_two_nodes_are_submitted_and_more_than_the_cluster_holds_are_refused(emulator, azure_spec, orchestrate):
    text = azure_spec.read_text()
    azure_spec.write_text(text.replace("  gpus_per_node: auto", "  gpus_per_node: auto\n  num_nodes: 2"))
    result = orchestrate("apply", azure_spec, "-y")
    assert result.exit_code == 1
    assert "finetune.num_nodes is 2 but compute.max_instances is 1" in result.output
    assert not [m for m in _mutated(emulator, 0) if m.startswith("PUT jobs")]

    azure_spec.write_text(
        text.replace("  gpus_per_node: auto", "  gpus_per_node: auto\n  num_nodes: 2").replace(
            "max_instances: 1", "max_instances: 2"
        )
    )
    result = orchestrate("apply", azure_spec, "-y")
    assert result.exit_code == 0, result.output
    (job,) = emulator.resources("jobs").values()
    assert job["properties"]["jobs"]["finetune"]["inputs"]["num_nodes_finetune"]["value"] in (2, "2")
    assert "2 nodes x 1 GPU" in orchestrate("plan", azure_spec, "--offline").output


PHI3_DEFAULTS = {  # as the registry publishes them for Phi-4: strings throughout
    "apply_deepspeed": "true",
    "deepspeed_stage": "2",
    "apply_lora": "true",
    "precision": "16",
    "num_train_epochs": "2",
    "per_device_train_batch_size": "1",
    "learning_rate": "7e-06",
    "lr_scheduler_type": "cosine",
}


def _without_epochs_and_rate(azure_spec) -> None:
    text = azure_spec.read_text()
    assert "  epochs: 1\n" in text and "  learning_rate: 5.0e-6\n" in text
    azure_spec.write_text(text.replace("  epochs: 1\n", "").replace("  learning_rate: 5.0e-6\n", ""))


def _job_inputs(emulator) -> dict:
    (job,) = emulator.resources("jobs").values()
    return {k: v.get("value") for k, v in job["properties"]["jobs"]["finetune"]["inputs"].items() if "value" in v}


def test_unset_fields_take_the_models_published_defaults(emulator, azure_spec, orchestrate):
    emulator.publish_model_defaults(PHI3_DEFAULTS)
    _without_epochs_and_rate(azure_spec)
    plan = orchestrate("plan", azure_spec)
    assert plan.exit_code == 0, plan.output
    text = " ".join(plan.output.split())
    assert "learning_rate 7e-06 (model default)" in text and "epochs 2 (model default)" in text
    assert "deepspeed.enabled false (spec)" in text  # the spec sets it: the model's "true" does not win
    assert "warmup_steps 0 (spec)" in text and "batch_size 1 (spec)" in text
    result = orchestrate("apply", azure_spec, "-y")
    assert result.exit_code == 0, result.output
    inputs = _job_inputs(emulator)
    assert float(inputs["learning_rate"]) == 7e-06 and int(inputs["num_train_epochs"]) == 2
    assert inputs["apply_deepspeed"] == "false"
    before = len(emulator.requests)
    again = orchestrate("apply", azure_spec, "-y")
    assert again.exit_code == 0 and "No changes" in again.output  # the defaults are part of the fingerprint
    assert not _mutated(emulator, before)

    # The registry publishes a new default: the plan shows the fine-tune (and what follows) to rerun.
    emulator.publish_model_defaults({**PHI3_DEFAULTS, "learning_rate": "8e-06"})
    changed = orchestrate("plan", azure_spec, "--detailed-exitcode")
    assert changed.exit_code == 2
    assert "learning_rate 8e-06 (model default)" in " ".join(changed.output.split())
    finetune_row = next(line for line in changed.output.splitlines() if " finetune " in line)
    assert "replace" in finetune_row


def test_fields_the_spec_sets_keep_their_values(emulator, azure_spec, orchestrate):
    emulator.publish_model_defaults(PHI3_DEFAULTS)
    result = orchestrate("apply", azure_spec, "-y")
    assert result.exit_code == 0, result.output
    inputs = _job_inputs(emulator)
    assert float(inputs["learning_rate"]) == 5e-06 and int(inputs["num_train_epochs"]) == 1
    assert "learning_rate 5e-06 (spec)" in " ".join(result.output.split())


def _serverless(azure_spec, instance_type: str = "Standard_NC24ads_A100_v4") -> None:
    text = azure_spec.read_text()
    start, end = text.index("compute:\n"), text.index("finetune:\n")
    text = text[:start] + text[end:]  # no cluster at all
    azure_spec.write_text(
        text.replace("  gpus_per_node: auto", f"  gpus_per_node: auto\n  instance_type: {instance_type}")
    )


def test_a_spec_without_compute_runs_serverless(emulator, azure_spec, orchestrate):
    _serverless(azure_spec)
    plan = orchestrate("plan", azure_spec)
    assert plan.exit_code == 0, plan.output
    assert "serverless Standard_NC24ads_A100_v4" in plan.output
    result = orchestrate("apply", azure_spec, "-y")
    assert result.exit_code == 0, result.output
    assert emulator.resources("computes") == {}  # nothing to create, nothing billing while idle
    inputs = _job_inputs(emulator)
    assert inputs["compute_finetune"] == "serverless" and inputs["compute_preprocess"] == "serverless"
    assert inputs["instance_type_finetune"] == "Standard_NC24ads_A100_v4"
    assert int(inputs["number_of_gpu_to_use_finetuning"]) == 1  # from the listed size, as for a cluster
    assert orchestrate("destroy", azure_spec, "-y").exit_code == 0


def test_a_serverless_instance_type_outside_the_allow_list_is_refused(emulator, azure_spec, orchestrate):
    _serverless(azure_spec, "Standard_ND40rs_v2")
    result = orchestrate("apply", azure_spec, "-y")
    assert result.exit_code == 1
    assert "finetune.instance_type Standard_ND40rs_v2 is not in Phi-4's fine-tune allow list" in (result.output)
    assert _billable(emulator) == []


def test_a_refused_low_priority_cluster_falls_back_to_dedicated(emulator, azure_spec, orchestrate):
    text = azure_spec.read_text().replace(
        "  max_instances: 1", "  max_instances: 1\n  tier: low_priority\n  fallback: dedicated"
    )
    azure_spec.write_text(text)
    assert "gpu-a100 (low_priority, falls back to dedicated)" in orchestrate("plan", azure_spec, "--offline").output
    # Azure refuses the low-priority cluster (no low-priority quota in the region), permanently.
    priorities: list[str] = []
    for nth in (1, 2):
        emulator.on(
            "PUT",
            r"/computes/gpu-a100$",
            lambda req: priorities.append(req.json()["properties"]["properties"].get("vmPriority")),
            nth=nth,
        )
    emulator.fail("PUT", r"/computes/gpu-a100$", 400, code="QuotaExceeded")
    result = orchestrate("apply", azure_spec, "-y")
    assert result.exit_code == 0, result.output
    assert "low-priority cluster refused" in result.output
    assert priorities == ["LowPriority", "Dedicated"]


def test_without_fallback_a_refused_low_priority_cluster_stops_the_apply(emulator, azure_spec, orchestrate):
    azure_spec.write_text(
        azure_spec.read_text().replace("  max_instances: 1", "  max_instances: 1\n  tier: low_priority")
    )
    emulator.fail("PUT", r"/computes/gpu-a100$", 400, code="QuotaExceeded")
    result = orchestrate("apply", azure_spec, "-y")
    assert result.exit_code == 1 and "QuotaExceeded" in result.output
    assert not [m for m in _mutated(emulator, 0) if m.startswith("PUT jobs")]
