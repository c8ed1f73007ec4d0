"""The fine-tune pipeline job as plain data: the spec mapped onto chat_completion_pipeline inputs.

Pure (no azure import): render.py turns it into a CLI v2 YAML through azure-ai-ml's loader and
the azureml target submits the same dict, so what `render` shows is what `apply` sends.
"""

from __future__ import annotations

from orchestrator.model_defaults import component_inputs
from orchestrator.spec.model import RunSpec
from orchestrator.spec.skus import gpus_for
from orchestrator.stages.model import registry_uri

COMPONENT = "chat_completion_pipeline"
SPLIT_INPUTS = {"train": "train_file_path", "validation": "validation_file_path", "test": "test_file_path"}


def component_uri(registry: str = "azureml", version: str = "latest") -> str:
    return registry_uri(registry, "components", COMPONENT, version)


def gpus_per_node(spec: RunSpec, listed: int | None = None) -> int:
    """GPUs given to the fine-tune: the spec's number, else what Azure listed, else the built-in table."""
    gpus = spec.finetune.gpus_per_node
    if isinstance(gpus, int):
        return gpus
    if listed is not None:
        return listed
    known = gpus_for(spec.finetune_sku) if spec.finetune_sku else None
    if known is None:  # validate refuses this; reaching it is a bug
        raise ValueError(f"GPUs per node unknown for {spec.finetune_sku}")
    return known


def finetune_inputs(spec: RunSpec, *, gpus: int) -> dict:
    """The scalar inputs of the component node (data and model inputs are added by the caller)."""
    ft = spec.finetune
    compute = spec.compute.name if spec.compute else "serverless"
    serverless = {}
    if spec.compute is None and ft.instance_type:
        # The component runs its GPU steps on this size when compute_* is "serverless"; import and
        # preprocess keep the component's CPU default (Standard_d12_v2).
        serverless = {"instance_type_finetune": ft.instance_type, "instance_type_model_evaluation": ft.instance_type}
    return {
        **serverless,
        "compute_model_import": compute,
        "compute_preprocess": compute,
        "compute_finetune": compute,
        "compute_model_evaluation": compute,
        "number_of_gpu_to_use_finetuning": gpus,
        "num_nodes_finetune": ft.num_nodes,
        **_with_eval_batch(component_inputs(ft)),
    }


def _with_eval_batch(inputs: dict) -> dict:
    """The table's inputs, the evaluation batch (the training one) after the training batch."""
    out = {}
    for name, value in inputs.items():
        out[name] = value
        if name == "per_device_train_batch_size":
            out["per_device_eval_batch_size"] = value
    return out


def pipeline_job(
    spec: RunSpec,
    *,
    job_name: str,
    model_id: str,
    data_paths: dict[str, str],
    gpus: int,
    component: str | None = None,
    tags: dict | None = None,
) -> dict:
    """The PipelineJob as a CLI v2 dict: one node running the registry component."""
    node_inputs: dict = {"mlflow_model_path": {"type": "mlflow_model", "path": model_id}}
    pipeline_inputs = {}
    for role, path in sorted(data_paths.items()):
        pipeline_inputs[role] = {"type": "uri_file", "path": path}
        node_inputs[SPLIT_INPUTS[role]] = "${{parent.inputs." + role + "}}"
    node_inputs.update(finetune_inputs(spec, gpus=gpus))
    return {
        "$schema": "https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json",
        "type": "pipeline",
        "name": job_name,
        "display_name": f"{spec.name} fine-tune",
        "experiment_name": spec.name,
        "tags": dict(tags or {}),
        "settings": {"force_rerun": False, "continue_on_step_failure": False},
        "inputs": pipeline_inputs,
        "outputs": {"trained_model": {"type": "mlflow_model"}},
        "jobs": {
            "finetune": {
                "type": "pipeline",
                "component": component
                or component_uri(spec.model.registry or "azureml", spec.pins.get("component", "latest")),
                "inputs": node_inputs,
                "outputs": {"mlflow_model_folder": "${{parent.outputs.trained_model}}"},
            }
        },
    }
