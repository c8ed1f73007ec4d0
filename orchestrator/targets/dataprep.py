"""The data stage, shared by both targets: sample each split and write ultrachat-schema JSONL.

Rows are chosen by a seeded permutation of each source split, so the same spec always yields the
same rows; roles drawn from one source split get disjoint slices. Records are written one at a
time, so memory does not grow with the output.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
from pathlib import Path

from orchestrator.errors import OrchestrateError
from orchestrator.spec.model import RunSpec

FORMATS = {".jsonl": "json", ".json": "json", ".parquet": "parquet"}


def source_dir(spec: RunSpec) -> Path | None:
    """The local folder a spec's dataset.source names, or None for a Hub id."""
    base = Path(spec.source_path).parent if spec.source_path else Path(".")
    candidate = (base / Path(spec.dataset.source).expanduser())
    return candidate if candidate.is_dir() else None


def _load_split(spec: RunSpec, split: str):
    # datasets (and pyarrow) are heavy: imported only when the data stage runs.
    import datasets

    folder = source_dir(spec)
    if folder is not None:
        for suffix, builder in FORMATS.items():
            path = folder / f"{split}{suffix}"
            if path.is_file():
                return datasets.load_dataset(builder, data_files={split: str(path)}, split=split)
        present = sorted(p.name for p in folder.iterdir() if p.suffix in FORMATS)
        raise OrchestrateError(f"dataset folder {folder} has no {split}.jsonl or {split}.parquet "
                               f"(found: {', '.join(present) or 'nothing'})")
    try:
        return datasets.load_dataset(spec.dataset.source, spec.dataset.subset, split=split)
    except Exception as exc:  # datasets raises many types for a missing dataset, split or network
        offline = " (HF_HUB_OFFLINE is set)" if os.environ.get("HF_HUB_OFFLINE") else ""
        raise OrchestrateError(f"cannot load split {split!r} of dataset {spec.dataset.source!r}{offline}: "
                               f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None


def selections(spec: RunSpec, sizes: dict[str, int]) -> dict[str, list[int]]:
    """Row indices per role: a seeded permutation of each source split, sliced in role order."""
    out: dict[str, list[int]] = {}
    cursor: dict[str, int] = {}
    perms: dict[str, list[int]] = {}
    for role in sorted(spec.dataset.splits):
        split = spec.dataset.splits[role]
        n = sizes[split.source_split]
        if split.source_split not in perms:
            order = list(range(n))
            random.Random(f"{spec.dataset.seed}:{split.source_split}").shuffle(order)
            perms[split.source_split] = order
        take = max(1, math.ceil(n * split.percent / 100)) if n else 0
        start = cursor.get(split.source_split, 0)
        out[role] = sorted(perms[split.source_split][start:start + take])
        cursor[split.source_split] = start + take
    return out


def to_ultrachat(row: dict) -> dict:
    """A record in the ultrachat_200k schema: prompt, prompt_id, messages[{role, content}]."""
    messages = row.get("messages")
    if not isinstance(messages, list) or not messages:
        raise OrchestrateError("dataset rows need a non-empty 'messages' list of {role, content} "
                               f"(got keys: {', '.join(sorted(row))})")
    clean = [{"role": str(m["role"]), "content": str(m["content"])} for m in messages]
    prompt = row.get("prompt") or next((m["content"] for m in clean if m["role"] == "user"), "")
    prompt_id = row.get("prompt_id") or hashlib.sha256(prompt.encode()).hexdigest()
    return {"prompt": prompt, "prompt_id": prompt_id, "messages": clean}


def prepare(spec: RunSpec, out_dir: Path) -> dict[str, dict]:
    """Write <role>.jsonl for every split of the spec into out_dir; return {role: {path, rows}}."""
    out_dir.mkdir(parents=True, exist_ok=True)
    loaded = {name: _load_split(spec, name) for name in {s.source_split for s in spec.dataset.splits.values()}}
    chosen = selections(spec, {name: len(ds) for name, ds in loaded.items()})
    result = {}
    for role, indices in chosen.items():
        ds = loaded[spec.dataset.splits[role].source_split]
        path = out_dir / f"{role}.jsonl"
        tmp = path.with_suffix(".jsonl.tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            for index in indices:
                fh.write(json.dumps(to_ultrachat(ds[index]), ensure_ascii=False) + "\n")
        tmp.replace(path)
        result[role] = {"path": str(path), "rows": len(indices)}
    return result


def read_jsonl(path: Path) -> list[dict]:
    with Path(path).open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]
