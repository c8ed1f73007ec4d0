"""LoRA fine-tune on this machine's CPU: transformers + peft, loss on assistant tokens only.

Resumable: a checkpoint (adapter, optimizer, scheduler, step) is written every few steps and a
killed run continues from it. Batches group conversations of similar length, so less padding is
computed than with a plain shuffled loop.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable
from pathlib import Path

from orchestrator import metrics
from orchestrator.spec.model import RunSpec

IGNORE = -100
CHECKPOINT_EVERY = 20  # optimizer steps between checkpoints


def assistant_labels(tokenizer, messages: list[dict], max_len: int) -> tuple[list[int], list[int]]:
    """Token ids of the whole conversation and labels that keep only assistant tokens.

    The chat template renders each prefix; the characters between "prefix with generation prompt"
    and "prefix plus the assistant turn" are that turn, mapped to tokens through offsets.
    """
    text = tokenizer.apply_chat_template(messages, tokenize=False)
    spans = []
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        start = len(tokenizer.apply_chat_template(messages[:i], tokenize=False, add_generation_prompt=True))
        end = len(tokenizer.apply_chat_template(messages[: i + 1], tokenize=False))
        spans.append((start, end))
    enc = tokenizer(text, return_offsets_mapping=True, add_special_tokens=False, truncation=True, max_length=max_len)
    labels = []
    for token, (a, b) in zip(enc["input_ids"], enc["offset_mapping"], strict=True):
        inside = any(s <= a and b <= e and b > a for s, e in spans)
        labels.append(token if inside else IGNORE)
    return enc["input_ids"], labels


def batches(examples: list[tuple[list[int], list[int]]], batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """Indices per batch: shuffled, then sorted by length inside windows of 8 batches."""
    order = list(range(len(examples)))
    random.Random(seed * 1000 + epoch).shuffle(order)
    window = batch_size * 8
    grouped: list[list[int]] = []
    for i in range(0, len(order), window):
        chunk = sorted(order[i : i + window], key=lambda j: len(examples[j][0]))
        grouped.extend(chunk[k : k + batch_size] for k in range(0, len(chunk), batch_size))
    random.Random(seed * 1000 + epoch + 1).shuffle(grouped)
    return grouped


def collate(examples, indices, pad_id: int):
    import torch

    width = max(len(examples[i][0]) for i in indices)
    ids, labels, mask = [], [], []
    for i in indices:
        x, y = examples[i]
        pad = width - len(x)
        ids.append(x + [pad_id] * pad)
        labels.append(y + [IGNORE] * pad)
        mask.append([1] * len(x) + [0] * pad)
    return torch.tensor(ids), torch.tensor(labels), torch.tensor(mask)


def load_for_training(spec: RunSpec, model_dir: Path):
    """(tokenizer, model, pad id) as the fine-tune starts: seeded, fp32 (CPU trains in fp32), with
    the spec's LoRA adapter when it enables one. The benchmark's baseline loads the same way."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    ft = spec.finetune
    torch.manual_seed(ft.seed)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    if ft.lora.enabled:
        model = get_peft_model(
            model,
            LoraConfig(
                r=ft.lora.r,
                lora_alpha=ft.lora.alpha,
                lora_dropout=ft.lora.dropout,
                target_modules=_lora_targets(model),
                task_type="CAUSAL_LM",
            ),
        )
    return tokenizer, model, pad_id


def _examples(tokenizer, path: Path, max_len: int) -> list[tuple[list[int], list[int]]]:
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    examples = [assistant_labels(tokenizer, r["messages"], max_len) for r in records]
    return [e for e in examples if any(t != IGNORE for t in e[1])]


def evaluate(model, examples, batch_size: int, pad_id: int) -> float:
    """The mean loss on assistant tokens over `examples` (the Trainer's eval_loss), without gradients."""
    import torch

    if not examples:
        return float("nan")
    model.eval()
    losses = []
    with torch.no_grad():
        for i in range(0, len(examples), batch_size):
            ids, labels, mask = collate(examples, list(range(i, min(i + batch_size, len(examples)))), pad_id)
            losses.append(model(input_ids=ids, attention_mask=mask, labels=labels).loss.item())
    model.train()
    return sum(losses) / len(losses)


def finetune(
    spec: RunSpec,
    model_dir: Path,
    train_file: Path,
    out_dir: Path,
    progress: Callable[[dict], None] = lambda _: None,
    threads: int | None = None,
    validation_file: Path | None = None,
) -> dict:
    """Train a LoRA adapter; write out_dir/merged (HF folder), loss.json and loss.png. `threads`:
    torch's intra-op threads (default: one per core). With `validation_file`, eval_loss on it after
    every epoch. The metrics carry the Trainer's names (metrics.py), as on Azure ML."""
    import torch
    from peft import get_peft_model_state_dict, set_peft_model_state_dict
    from transformers import get_scheduler

    if threads:
        torch.set_num_threads(threads)

    ft = spec.finetune
    tokenizer, model, pad_id = load_for_training(spec, model_dir)
    examples = _examples(tokenizer, train_file, ft.max_seq_length)
    held_out = _examples(tokenizer, validation_file, ft.max_seq_length) if validation_file else []
    steps_per_epoch = math.ceil(math.ceil(len(examples) / ft.batch_size) / ft.gradient_accumulation_steps)
    total_steps = steps_per_epoch * ft.epochs
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=ft.learning_rate, weight_decay=ft.weight_decay)
    scheduler = get_scheduler(
        ft.lr_scheduler, optimizer, num_warmup_steps=ft.warmup_steps, num_training_steps=max(total_steps, 1)
    )
    ckpt = out_dir / "checkpoint.pt"
    history: list[dict] = []
    evals: list[list[float]] = []  # [step, eval_loss] after each epoch
    step = 0
    saved = _checkpoint(ckpt, progress)
    if saved is not None:
        if ft.lora.enabled:
            set_peft_model_state_dict(model, saved["weights"])
        else:
            model.load_state_dict(saved["weights"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        step, history, evals = saved["step"], saved["history"], saved.get("evals", [])
        progress({"phase": "resumed", "step": step, "total": total_steps})
    model.train()
    started, tokens_seen = time.perf_counter(), 0
    for epoch in range(ft.epochs):
        groups = batches(examples, ft.batch_size, ft.seed, epoch)
        for s in range(steps_per_epoch):
            global_step = epoch * steps_per_epoch + s
            if global_step < step:
                continue  # done before the checkpoint we resumed from
            micro = groups[s * ft.gradient_accumulation_steps : (s + 1) * ft.gradient_accumulation_steps]
            loss_sum, count = 0.0, 0
            for indices in micro:
                ids, labels, mask = collate(examples, indices, pad_id)
                out = model(input_ids=ids, attention_mask=mask, labels=labels)
                (out.loss / len(micro)).backward()
                loss_sum += out.loss.item()
                count += 1
                tokens_seen += int(mask.sum())
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            step = global_step + 1
            elapsed = time.perf_counter() - started
            entry = {
                "step": step,
                "loss": loss_sum / max(count, 1),
                "learning_rate": scheduler.get_last_lr()[0],
                "tokens_per_s": tokens_seen / max(elapsed, 1e-9),
            }
            history.append(entry)
            progress({"phase": "step", "total": total_steps, **entry})
            if step % CHECKPOINT_EVERY == 0 and step < total_steps:
                weights = get_peft_model_state_dict(model) if ft.lora.enabled else model.state_dict()
                torch.save(
                    {
                        "weights": weights,
                        "optimizer": optimizer.state_dict(),
                        "scheduler": scheduler.state_dict(),
                        "step": step,
                        "history": history,
                        "evals": evals,
                    },
                    ckpt.with_suffix(".tmp"),
                )
                ckpt.with_suffix(".tmp").replace(ckpt)
        if held_out and (not evals or evals[-1][0] < step):
            evals.append([float(step), evaluate(model, held_out, ft.batch_size, pad_id)])
            progress({"phase": "eval", "message": f"epoch {epoch + 1}: eval_loss {evals[-1][1]:.4f}"})
    runtime = time.perf_counter() - started
    merged = model.merge_and_unload() if ft.lora.enabled else model
    merged.save_pretrained(out_dir / "merged")
    tokenizer.save_pretrained(out_dir / "merged")
    curves = {
        "loss": [[float(h["step"]), h["loss"]] for h in history],
        "learning_rate": [[float(h["step"]), h["learning_rate"]] for h in history if "learning_rate" in h],
        **({"eval_loss": evals} if evals else {}),
    }
    (out_dir / "loss.json").write_text(json.dumps(history), encoding="utf-8")
    ckpt.unlink(missing_ok=True)
    first, last = _mean_loss(history[: max(1, len(history) // 5)]), _mean_loss(history[-max(1, len(history) // 5) :])
    achieved = {
        "loss": history[-1]["loss"] if history else float("nan"),
        "train_loss": _mean_loss(history),
        "learning_rate": history[-1].get("learning_rate", float("nan")) if history else float("nan"),
        "epoch": float(ft.epochs),
        "train_runtime": runtime,
        "train_samples_per_second": len(examples) * ft.epochs / max(runtime, 1e-9),
        **({"eval_loss": evals[-1][1]} if evals else {}),
    }
    return {
        "metrics": metrics.final(achieved),
        "curves": curves,
        "steps": step,
        "examples": len(examples),
        "loss_first": first,
        "loss_last": last,
        "tokens_per_s": history[-1]["tokens_per_s"] if history else 0.0,
        "model_dir": str(out_dir / "merged"),
    }


def _lora_targets(model) -> list[str] | str:
    """The attention projections where the model has them (half the backward cost of all-linear
    on CPU), else every linear layer."""
    names = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    attention = [n for n in ("q_proj", "k_proj", "v_proj", "o_proj") if n in names]
    return attention or "all-linear"


def _checkpoint(ckpt: Path, progress) -> dict | None:
    """The checkpoint a killed fine-tune left, read as tensors and plain data only (weights_only):
    a file that needs more (pickled code, a tampered or foreign file) is not run, it is dropped and
    the fine-tune starts over."""
    import torch

    if not ckpt.exists():
        return None
    try:
        return torch.load(ckpt, weights_only=True)
    except Exception as exc:  # UnpicklingError, a truncated file: what it is matters less than not running it
        progress({"phase": "checkpoint", "message": f"{ckpt.name} unreadable ({type(exc).__name__}): starting over"})
        ckpt.unlink(missing_ok=True)
        return None


def _mean_loss(entries: list[dict]) -> float:
    return sum(e["loss"] for e in entries) / len(entries) if entries else float("nan")
