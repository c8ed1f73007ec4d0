"""The base model's own fine-tune defaults: what the registry publishes in its
`model_specific_defaults` tag, applied where the spec leaves a field unset.

Order: a field the spec sets wins; else the model's default; else the schema's. Pure: the tag's
text comes from the model stage's observation, and plan and targets apply it the same way, so a
changed tag shows in plan as a change of the fine-tune's fingerprint.

The tag is a JSON (or Python-literal) object of strings, keyed by the chat_completion_pipeline's
input names (azureml-assets model specs; the reference notebook applies it with ast.literal_eval).
"""

from __future__ import annotations

import ast
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from orchestrator.spec.model import RunSpec

TAG = "model_specific_defaults"


# The component takes precision as the strings "32" or "16": bf16 trains as 16-bit there, and a
# published "16" reads back as fp16.
PRECISION = {"fp32": "32", "fp16": "16", "bf16": "16"}
_PRECISION_OF = {component: value for value, component in reversed(PRECISION.items())}


def _read_flag(text: str) -> bool:
    if text.strip().lower() not in ("true", "false"):
        raise ValueError(text)
    return text.strip().lower() == "true"


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _same(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class Input:
    """One chat_completion_pipeline input that a spec's finetune field sets, both ways."""

    field: str  # the spec's finetune field, dotted
    read: Callable[[str], Any]  # a published default (the model's tag, a string) -> the field's value
    write: Callable[[Any], Any] = _same  # the field's value -> the component's input


# The one table of component inputs and spec fields: the model's defaults are read with it
# (effective) and the pipeline job is written with it (targets/azureml/pipeline.py).
INPUTS: dict[str, Input] = {
    "num_train_epochs": Input("epochs", int),
    "learning_rate": Input("learning_rate", float),
    "per_device_train_batch_size": Input("batch_size", int),
    "gradient_accumulation_steps": Input("gradient_accumulation_steps", int),
    "max_seq_length": Input("max_seq_length", int),
    "precision": Input("precision", lambda text: _PRECISION_OF[text.strip()], PRECISION.__getitem__),
    "apply_lora": Input("lora.enabled", _read_flag, _flag),
    "lora_r": Input("lora.r", int),
    "lora_alpha": Input("lora.alpha", int),
    "lora_dropout": Input("lora.dropout", float),
    "lr_scheduler_type": Input("lr_scheduler", str),
    "warmup_steps": Input("warmup_steps", int),
    "weight_decay": Input("weight_decay", float),
    "seed": Input("seed", int),
    "apply_deepspeed": Input("deepspeed.enabled", _read_flag, _flag),
    "deepspeed_stage": Input("deepspeed.stage", int, str),
}


def component_inputs(finetune: Any) -> dict[str, Any]:
    """The component inputs a spec's finetune section sets, in the table's order."""
    return {name: i.write(_get(finetune, i.field)) for name, i in INPUTS.items()}


@dataclass(frozen=True)
class Setting:
    """One fine-tune value the run uses and where it came from: spec | model default | default."""

    field: str
    value: Any
    source: str


def parse_tag(text: str | None) -> dict[str, str]:
    """The tag as {component input: string}; anything unreadable is no defaults at all."""
    if not text:
        return {}
    for parse in (json.loads, ast.literal_eval):
        try:
            value = parse(text)
        except (ValueError, SyntaxError, TypeError):
            continue
        if isinstance(value, dict):
            return {str(k): str(v) for k, v in value.items()}
    return {}


def effective(spec: RunSpec, published: Mapping[str, str]) -> tuple[RunSpec, tuple[Setting, ...]]:
    """The spec with the model's defaults in the fields it leaves unset, and each value's source.

    A published value that cannot be read, or that the spec's own schema would refuse (a
    precision the component does not take), is ignored: the schema default stays.
    """
    finetune = spec.finetune
    from_model: set[str] = set()
    for name, raw in published.items():
        if name not in INPUTS:
            continue
        field = INPUTS[name].field
        if field in spec.finetune_set:
            continue
        try:
            value = INPUTS[name].read(raw)
        except (ValueError, KeyError):
            continue
        finetune = _set(finetune, field, value)
        from_model.add(field)
    settings = tuple(
        Setting(i.field, _get(finetune, i.field), _source(i.field, spec.finetune_set, from_model))
        for i in INPUTS.values()
    )
    return replace(spec, finetune=finetune), settings


def _source(field: str, explicit: tuple[str, ...], from_model: set[str]) -> str:
    if field in explicit:
        return "spec"
    return "model default" if field in from_model else "default"


def _get(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


def _set(obj: Any, dotted: str, value: Any) -> Any:
    head, _, rest = dotted.partition(".")
    if not rest:
        return replace(obj, **{head: value})
    return replace(obj, **{head: _set(getattr(obj, head), rest, value)})
