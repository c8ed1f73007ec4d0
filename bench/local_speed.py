"""Benchmark the local target (issue 5), on the bundled SmolLM2-135M-Instruct:

1. fine-tune throughput: orchestrate's LoRA loop (length-grouped batches) against a plain
   transformers Trainer loop on the same model, data, LoRA config and batch size, same run;
   tokens/s counts real (non-padding) tokens, so padding is not rewarded;
2. the local endpoint: latency p50/p95 and throughput at concurrency 1 and 4.

Run: python bench/local_speed.py [--examples 64] [--requests 16] [--write BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

from bench.validate_speed import write_section  # noqa: E402
from orchestrator.spec.validate import load_runspec  # noqa: E402
from orchestrator.targets.local import train  # noqa: E402
from orchestrator.targets.local.model_source import resolve  # noqa: E402


def _spec():
    spec = load_runspec(ROOT / "specs" / "quickstart-local.yaml")
    return dataclasses.replace(spec, finetune=dataclasses.replace(spec.finetune, epochs=1))


def ours(spec, model_dir: Path, train_file: Path, work: Path) -> dict:
    start = time.perf_counter()
    result = train.finetune(spec, model_dir, train_file, work)
    # The loop's own rate: real tokens over the training steps (model load and save excluded,
    # as the baseline's trainer.train() excludes them).
    return {
        "wall_s": time.perf_counter() - start,
        "tokens_per_s": result["tokens_per_s"],
        "loss_last": result["loss_last"],
    }


def baseline(spec, model_dir: Path, train_file: Path, work: Path) -> dict:
    """The textbook loop: Trainer, shuffled batches padded to the longest, same LoRA and data."""
    from transformers import Trainer, TrainingArguments

    ft = spec.finetune
    tokenizer, model, pad = train.load_for_training(spec, model_dir)  # the same model and LoRA as ours
    records = [json.loads(line) for line in train_file.read_text().splitlines() if line.strip()]
    examples = [train.assistant_labels(tokenizer, r["messages"], ft.max_seq_length) for r in records]
    data = [{"input_ids": x, "labels": y} for x, y in examples]

    def collate(batch):
        ids, labels, mask = train.collate([(b["input_ids"], b["labels"]) for b in batch], list(range(len(batch))), pad)
        return {"input_ids": ids, "labels": labels, "attention_mask": mask}

    args = TrainingArguments(
        output_dir=str(work),
        per_device_train_batch_size=ft.batch_size,
        num_train_epochs=1,
        learning_rate=ft.learning_rate,
        report_to="none",
        save_strategy="no",
        logging_strategy="no",
        use_cpu=True,
        seed=ft.seed,
        remove_unused_columns=False,
        disable_tqdm=True,
    )
    trainer = Trainer(model=model, args=args, train_dataset=data, data_collator=collate)
    start = time.perf_counter()
    trainer.train()
    wall = time.perf_counter() - start
    return {"wall_s": wall, "tokens_per_s": sum(len(x) for x, _ in examples) / wall}


def endpoint(model_dir: Path, work: Path, requests: int) -> list[tuple]:
    from orchestrator.smoke import payload
    from orchestrator.targets.local.endpoint import free_port, spawn_scoring, stop

    port = free_port()  # one deployment's inference server, as the local endpoint runs it
    proc = spawn_scoring(model_dir, model_dir, port, work / "scoring.log", 90000, threads=4)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if urllib.request.urlopen(url + "/", timeout=1).status == 200:
                    break
            except OSError:
                time.sleep(0.2)
        body = payload(
            [{"role": "user", "content": "What is the capital of France?"}], {"max_new_tokens": 16, "do_sample": False}
        )

        def one(_):
            req = urllib.request.Request(
                url + "/score",
                data=body,
                headers={"Content-Type": "application/json"},
            )
            start = time.perf_counter()
            with urllib.request.urlopen(req, timeout=120) as resp:
                assert resp.status == 200
            return time.perf_counter() - start

        one(0)  # warm-up
        rows = []
        for concurrency in (1, 4):
            start = time.perf_counter()
            with ThreadPoolExecutor(concurrency) as pool:
                latencies = sorted(pool.map(one, range(requests)))
            wall = time.perf_counter() - start
            p95 = latencies[min(len(latencies) - 1, int(round(0.95 * (len(latencies) - 1))))]
            rows.append((concurrency, statistics.median(latencies), p95, requests / wall))
        return rows
    finally:
        stop(proc.pid)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--examples", type=int, default=64)
    parser.add_argument("--requests", type=int, default=16)
    parser.add_argument("--write")
    args = parser.parse_args()
    spec = _spec()
    model_dir = resolve("SmolLM2-135M-Instruct", ROOT)
    work = Path(tempfile.mkdtemp(prefix="orchestrate-bench-"))
    lines = (ROOT / "specs" / "data" / "quickstart-chat" / "train.jsonl").read_text().splitlines()[: args.examples]
    train_file = work / "train.jsonl"
    train_file.write_text("\n".join(lines) + "\n")
    try:
        base = baseline(spec, model_dir, train_file, work / "baseline")
        mine = ours(spec, model_dir, train_file, work / "ours")
        serve = endpoint(model_dir, work, args.requests)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    out = [
        f"## local target speed ({time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, SmolLM2-135M-Instruct, "
        f"{args.examples} conversations, batch {spec.finetune.batch_size}, LoRA r={spec.finetune.lora.r})",
        "",
        "| what | figure | against |",
        "|---|---|---|",
        f"| plain transformers Trainer loop (baseline) | {base['tokens_per_s']:.0f} real tokens/s, "
        f"{base['wall_s']:.1f} s | |",
        f"| orchestrate LoRA loop (length-grouped batches) | {mine['tokens_per_s']:.0f} real tokens/s, "
        f"{mine['wall_s']:.1f} s incl. merge and save | "
        f"{mine['tokens_per_s'] / base['tokens_per_s']:.2f}x the baseline (goal >= 1.0x) |",
    ]
    for concurrency, p50, p95, rps in serve:
        out.append(
            f"| endpoint, concurrency {concurrency}, {args.requests} requests, 16 new tokens | "
            f"p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, {rps:.2f} req/s | |"
        )
    text = "\n".join(out) + "\n"
    print(text)
    if args.write:
        write_section(Path(args.write), text)


if __name__ == "__main__":
    main()
