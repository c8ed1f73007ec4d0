"""What a run will cost in compute: fine-tune GPU-hours and endpoint instance-hours per day.

Always labelled as an estimate, with its assumptions stated. Money only from a price table the
user gives (SKU -> hourly price); no price is ever made up here.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

from orchestrator.errors import OrchestrateError
from orchestrator.spec.model import RunSpec
from orchestrator.spec.skus import gpus_for

# Rows per split of datasets the reference workflow uses (dataset card of ultrachat_200k).
KNOWN_ROWS = {
    "HuggingFaceH4/ultrachat_200k": {
        "train_sft": 207_865,
        "test_sft": 23_110,
        "train_gen": 256_032,
        "test_gen": 28_304,
    },
}
# Assumed LoRA fine-tune throughput per GPU for a ~4B-parameter model, tokens/s. An assumption,
# stated in every estimate, overridable with --throughput.
TOKENS_PER_S_PER_GPU = {"t4": 400, "v100": 1_000, "a100": 2_500, "h100": 5_000}
_FAMILY = (
    ("h100", "h100"),
    ("a100", "a100"),
    ("nd96asr_v4", "a100"),
    ("t4", "t4"),
    ("s_v3", "v100"),
    ("rs_v2", "v100"),
    ("rs_v3", "v100"),
)


@dataclass(frozen=True)
class Estimate:
    train_tokens: int | None  # at most this many tokens per epoch (rows x max_seq_length when not counted)
    tokens_basis: str
    throughput_per_gpu: int | None
    finetune_wall_hours: float | None
    finetune_gpu_hours: float | None
    endpoint_instance_hours_per_day: float
    finetune_cost: float | None = None
    endpoint_cost_per_day: float | None = None
    currency: str = ""
    local: bool = False  # runs on this machine: no GPU and no endpoint bill
    nodes: int = 1
    gpus_per_node: int | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def load_prices(path: str | None) -> dict:
    """A price table: {currency: EUR, prices: {Standard_NC24ads_A100_v4: 3.67, ...}} (per hour)."""
    if path is None:
        return {}
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise OrchestrateError(f"cannot read price table {path}: {exc}") from None
    prices = data.get("prices") if isinstance(data, dict) else None
    if not isinstance(prices, dict) or not all(isinstance(v, (int, float)) for v in prices.values()):
        raise OrchestrateError(f"{path}: expected `prices: {{<SKU>: <hourly price>}}` (and optional `currency:`)")
    return {"currency": str(data.get("currency", "")), "prices": {k.lower(): float(v) for k, v in prices.items()}}


def _train_tokens(spec: RunSpec) -> tuple[int | None, str]:
    split = spec.dataset.splits["train"]
    cap = spec.finetune.max_seq_length
    base = Path(spec.source_path).parent if spec.source_path else Path(".")
    folder = base / spec.dataset.source
    path = folder / f"{split.source_split}.jsonl"
    if path.is_file():
        lines = path.read_text(encoding="utf-8").splitlines()
        rows = math.ceil(len(lines) * split.percent / 100)
        chars = sum(len(line) for line in lines) / max(len(lines), 1)
        per_row = min(cap, math.ceil(chars / 4))  # ~4 characters per token
        return rows * per_row, f"{rows} rows x ~{per_row} tokens (counted, ~4 chars/token)"
    known = KNOWN_ROWS.get(spec.dataset.source, {}).get(split.source_split)
    if known is None:
        return None, "rows unknown offline"
    rows = math.ceil(known * split.percent / 100)
    return rows * cap, f"at most {rows} rows x {cap} tokens (max_seq_length)"


def _family(sku: str) -> str | None:
    low = sku.lower()
    return next((family for needle, family in _FAMILY if needle in low), None)


def estimate(spec: RunSpec, *, prices: dict | None = None, throughput: int | None = None) -> Estimate:
    prices = prices or {}
    table = prices.get("prices", {})
    tokens, basis = _train_tokens(spec)
    instance_hours = 24.0 * spec.deployment.instance_count
    endpoint_cost = None
    if spec.deployment.sku and spec.deployment.sku.lower() in table:
        endpoint_cost = instance_hours * table[spec.deployment.sku.lower()]
    sku = spec.finetune_sku  # the cluster's size, or the serverless instance type
    if sku is None:  # target local: no GPU, no bill
        return Estimate(tokens, basis, None, None, None, 0.0, local=True)
    gpus = spec.finetune.gpus_per_node if isinstance(spec.finetune.gpus_per_node, int) else gpus_for(sku)
    per_gpu = throughput or TOKENS_PER_S_PER_GPU.get(_family(sku) or "", None)
    nodes = spec.finetune.num_nodes
    wall = gpu_hours = cost = None
    if tokens is not None and per_gpu and gpus:
        wall = spec.finetune.epochs * tokens / (per_gpu * gpus * nodes) / 3600  # data-parallel over every GPU
        gpu_hours = wall * gpus * nodes
        if sku.lower() in table:
            cost = wall * nodes * table[sku.lower()]  # a node is billed per hour, all its GPUs included
    return Estimate(
        tokens,
        basis,
        per_gpu,
        wall,
        gpu_hours,
        instance_hours,
        cost,
        endpoint_cost,
        prices.get("currency", ""),
        nodes=nodes,
        gpus_per_node=gpus,
    )


def estimate_text(e: Estimate) -> str:
    if e.local:
        return f"Estimate: runs on this machine (no GPU or endpoint bill); training data {e.tokens_basis}."
    money = e.currency + " " if e.currency else ""
    if e.finetune_gpu_hours is None:
        ft = f"fine-tune: no GPU-hour estimate ({e.tokens_basis})"
    else:
        shape = (
            f"{e.nodes} node{'s' if e.nodes != 1 else ''} x {e.gpus_per_node} GPU{'s' if e.gpus_per_node != 1 else ''}"
        )
        ft = (
            f"fine-tune: ~{e.finetune_gpu_hours:.1f} GPU-hours (~{e.finetune_wall_hours:.1f} h wall on {shape}) for "
            f"{e.tokens_basis}, assuming {e.throughput_per_gpu} tokens/s per GPU"
        )
        if e.finetune_cost is not None:
            ft += f", ~{money}{e.finetune_cost:.2f}"
    ep = f"endpoint: {e.endpoint_instance_hours_per_day:g} instance-hours per day while deployed"
    if e.endpoint_cost_per_day is not None:
        ep += f", ~{money}{e.endpoint_cost_per_day:.2f} per day"
    return f"Estimate (not a quote): {ft}; {ep}."
