"""The fine-tune pipeline job as plain data: the spec mapped onto chat_completion_pipeline inputs.

Pure (no azure import): render.py turns it into a CLI v2 YAML through azure-ai-ml's loader and
the azureml target submits the same dict, so what `render` shows is what `apply` sends.
"""

from __future__ import annotations

from orchestrator.spec.model import RunSpec
from orchestrator.spec.skus import gpus_for
from orchestrator.stages.model import registry_uri

COMPONENT = "chat_completion_pipeline"
SPLIT_INPUTS = {"train": "train_file_path", "validation": "validation_file_path", "test": "test_file_path"}
# The component takes precision as the strings "32" or "16": bf16 trains as 16-bit there.
PRECISION = {"fp32": "32", "fp16": "16", "bf16": "16"}


def component_uri(registry: str = "azureml", version: str = "latest") -> str:
    return registry_uri(registry, "components", COMPONENT, version)


def _flag(value: bool) -> str:
    return "true" if value else "false"


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
        "num_train_epochs": ft.epochs,
        "learning_rate": ft.learning_rate,
        "per_device_train_batch_size": ft.batch_size,
        "per_device_eval_batch_size": ft.batch_size,
        "gradient_accumulation_steps": ft.gradient_accumulation_steps,
        "max_seq_length": ft.max_seq_length,
        "precision": PRECISION[ft.precision],
        "apply_lora": _flag(ft.lora.enabled),
        "lora_r": ft.lora.r,
        "lora_alpha": ft.lora.alpha,
        "lora_dropout": ft.lora.dropout,
        "lr_scheduler_type": ft.lr_scheduler,
        "warmup_steps": ft.warmup_steps,
        "weight_decay": ft.weight_decay,
        "seed": ft.seed,
        "apply_deepspeed": _flag(ft.deepspeed.enabled),
        "deepspeed_stage": str(ft.deepspeed.stage),
    }


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
