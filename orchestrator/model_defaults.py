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


def _flag(text: str) -> bool:
    if text.strip().lower() not in ("true", "false"):
        raise ValueError(text)
    return text.strip().lower() == "true"


def _precision(text: str) -> str:
    return {"16": "fp16", "32": "fp32"}[text.strip()]


# Component input -> (the spec's finetune field, dotted; how to read the published string).
FIELDS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "num_train_epochs": ("epochs", int),
    "learning_rate": ("learning_rate", float),
    "per_device_train_batch_size": ("batch_size", int),
    "gradient_accumulation_steps": ("gradient_accumulation_steps", int),
    "max_seq_length": ("max_seq_length", int),
    "precision": ("precision", _precision),
    "apply_lora": ("lora.enabled", _flag),
    "lora_r": ("lora.r", int),
    "lora_alpha": ("lora.alpha", int),
    "lora_dropout": ("lora.dropout", float),
    "lr_scheduler_type": ("lr_scheduler", str),
    "warmup_steps": ("warmup_steps", int),
    "weight_decay": ("weight_decay", float),
    "seed": ("seed", int),
    "apply_deepspeed": ("deepspeed.enabled", _flag),
    "deepspeed_stage": ("deepspeed.stage", int),
}


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
        if name not in FIELDS:
            continue
        field, read = FIELDS[name]
        if field in spec.finetune_set:
            continue
        try:
            value = read(raw)
        except (ValueError, KeyError):
            continue
        finetune = _set(finetune, field, value)
        from_model.add(field)
    settings = tuple(
        Setting(field, _get(finetune, field), _source(field, spec.finetune_set, from_model))
        for field, _ in FIELDS.values()
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
