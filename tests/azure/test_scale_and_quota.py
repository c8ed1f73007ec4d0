"""Quota, multi-node fine-tunes and the base model's own defaults, against the emulator."""

from __future__ import annotations

import json

from tests.azure.test_apply_azure import _mutated

BILLABLE = ("PUT jobs", "PUT computes", "PUT onlineEndpoints", "PATCH", "DELETE")


def _billable(emulator) -> list[str]:
    return [m for m in _mutated(emulator, 0) if m.startswith(BILLABLE)]


def test_a_deployment_sku_without_free_vcpus_is_refused_before_anything_billable(emulator, azure_spec, orchestrate):
    emulator.config.usage["standardNCSv3Family"] = (19, 24)
    result = orchestrate("apply", azure_spec, "-y")
    assert result.exit_code == 1
    # 1 instance of Standard_NC6s_v3 (6 vCPUs) plus Azure's 20 % upgrade reserve: 2 instances' worth.
    assert (
        "the deployment needs 12 vCPUs of standardNCSv3Family; 5 are free in eastus (limit 24, in use 19): "
        "request more quota or choose another SKU" in result.output
    )
    assert _billable(emulator) == []


def test_a_cluster_without_free_vcpus_is_refused_before_anything_billable(emulator, azure_spec, orchestrate):
    emulator.config.usage["standardNCADSA100v4Family"] = (90, 96)
    result = orchestrate("apply", azure_spec, "-y")
    assert result.exit_code == 1
    assert "the fine-tune needs 24 vCPUs of standardNCADSA100v4Family; 6 are free in eastus" in result.output
    assert _billable(emulator) == []


def test_with_enough_quota_the_apply_completes_having_read_it(emulator, azure_spec, orchestrate):
    emulator.config.usage["standardNCSv3Family"] = (12, 24)  # exactly the 12 the deployment needs
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
