from __future__ import annotations

import pytest
import yaml
from click.testing import CliRunner

from orchestrator.cli import cli
from orchestrator.plan import fingerprints
from orchestrator.spec.validate import load_runspec
from tests.conftest import SPECS

ml = pytest.importorskip("azure.ai.ml")


def test_render_files_load_back_with_azure_ai_ml(tmp_path):
    result = CliRunner().invoke(cli, ["render", str(SPECS / "phi4-ultrachat.yaml"), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    spec = load_runspec(SPECS / "phi4-ultrachat.yaml")
    prints = fingerprints(spec)

    job = ml.load_job(tmp_path / "pipeline-job.yaml")
    node = job.jobs["finetune"]
    assert node.component == "azureml://registries/azureml/components/chat_completion_pipeline/labels/latest"
    inputs = yaml.safe_load((tmp_path / "pipeline-job.yaml").read_text())["jobs"]["finetune"]["inputs"]
    assert inputs["learning_rate"] == 5e-6 and inputs["precision"] == "16" and inputs["apply_lora"] == "true"
    assert inputs["number_of_gpu_to_use_finetuning"] == 1 and inputs["num_nodes_finetune"] == 1
    assert inputs["compute_finetune"] == "gpu-a100" and inputs["train_file_path"]["path"] == "${{parent.inputs.train}}"
    assert job.settings.force_rerun is False and job.settings.continue_on_step_failure is False
    assert job.name == f"phi4-ultrachat-ft-{prints['finetune'][:12]}"
    assert job.tags["orchestrate.fingerprint"] == prints["finetune"]

    model = ml.load_model(tmp_path / "model.yaml")
    assert model.type == "mlflow_model" and model.path.endswith(f"jobs/{job.name}/outputs/trained_model")
    endpoint = ml.load_online_endpoint(tmp_path / "endpoint.yaml")
    assert endpoint.name == "ultrachat-completion" and endpoint.auth_mode == "key"
    deployment = ml.load_online_deployment(tmp_path / "deployment.yaml")
    assert deployment.instance_type == "Standard_NC24ads_A100_v4" and deployment.liveness_probe.initial_delay == 600
    assert deployment.request_settings.request_timeout_ms == 90000
    # Azure numbers the version (a positive integer): the file leaves it out, the deployment takes the newest.
    assert model.version is None and model.tags["orchestrate.fingerprint"] == prints["register"]
    assert deployment.model.endswith("phi4-ultrachat@latest")  # the SDK strips azureml:

    # rendering twice is allowed and gives the same files
    again = CliRunner().invoke(cli, ["render", str(SPECS / "phi4-ultrachat.yaml"), "--out", str(tmp_path)])
    assert again.exit_code == 0


def test_render_refuses_local_target(tmp_path):
    result = CliRunner().invoke(cli, ["render", str(SPECS / "quickstart-local.yaml"), "--out", str(tmp_path)])
    assert result.exit_code == 1 and "target local" in result.output


def test_a_multi_node_serverless_job_renders_and_loads_back(tmp_path, write_spec):
    text = (SPECS / "phi4-ultrachat.yaml").read_text()
    text = text[: text.index("compute:\n")] + text[text.index("finetune:\n") :]
    text = text.replace(
        "  gpus_per_node: auto", "  gpus_per_node: auto\n  num_nodes: 2\n  instance_type: Standard_NC48ads_A100_v4"
    )
    spec = write_spec(text)
    result = CliRunner().invoke(cli, ["render", str(spec), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    job = ml.load_job(tmp_path / "pipeline-job.yaml")
    assert job.jobs["finetune"] is not None
    inputs = yaml.safe_load((tmp_path / "pipeline-job.yaml").read_text())["jobs"]["finetune"]["inputs"]
    assert inputs["num_nodes_finetune"] == 2 and inputs["number_of_gpu_to_use_finetuning"] == 2  # NC48: 2 GPUs
    assert inputs["compute_finetune"] == "serverless"
    assert inputs["instance_type_finetune"] == inputs["instance_type_model_evaluation"] == "Standard_NC48ads_A100_v4"
