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
from collections.abc import Mapping, Sequence
from pathlib import Path

from orchestrator import extras
from orchestrator.errors import OrchestrateError
from orchestrator.spec.model import RunSpec

FORMATS = (".jsonl", ".json", ".parquet")


def source_dir(spec: RunSpec) -> Path | None:
    """The local folder a spec's dataset.source names, or None for a Hub id."""
    base = Path(spec.source_path).parent if spec.source_path else Path(".")
    candidate = base / Path(spec.dataset.source).expanduser()
    return candidate if candidate.is_dir() else None


class JsonlRows(Sequence):
    """The rows of a JSON-lines file, read on demand: one pass records where each line starts, then
    a row is one seek and one json.loads. Memory holds offsets, not the (possibly GB-sized) file."""

    def __init__(self, path: Path):
        self.path = path
        self._offsets: list[int] = []
        with path.open("rb") as fh:
            offset = 0
            for line in fh:
                if line.strip():
                    self._offsets.append(offset)
                offset += len(line)

    def __len__(self) -> int:
        return len(self._offsets)

    def __getitem__(self, index):  # rows by int index only (no slices)
        with self.path.open("rb") as fh:
            fh.seek(self._offsets[index])
            try:
                return json.loads(fh.readline())
            except json.JSONDecodeError as exc:
                raise OrchestrateError(f"{self.path}: row {index + 1} is not valid JSON: {exc.msg}") from None


def _local_split(path: Path, spec: RunSpec) -> Sequence:
    """A split file read directly: no Hugging Face machinery, so no network connection at all
    (datasets.load_dataset("json", ...) reached out to s3.amazonaws.com even for local files)."""
    if path.suffix == ".jsonl":
        return JsonlRows(path)
    if path.suffix == ".json":  # a JSON array of rows, or JSON lines under a .json name
        text = path.read_text(encoding="utf-8")
        try:
            rows = json.loads(text)
        except json.JSONDecodeError:
            return JsonlRows(path)
        if not isinstance(rows, list):
            raise OrchestrateError(
                f"{path} holds a JSON {type(rows).__name__}; a split is a list of rows (or JSON lines)"
            )
        return rows
    extras.require("pyarrow", what=f"reading {path.name}", target=spec.target)
    import pyarrow.parquet  # with the target's extra (datasets depends on it); imported only for Parquet

    return pyarrow.parquet.read_table(path).to_pylist()


def _load_split(spec: RunSpec, split: str) -> Sequence:
    folder = source_dir(spec)
    if folder is not None:
        for suffix in FORMATS:
            path = folder / f"{split}{suffix}"
            if path.is_file():
                return _local_split(path, spec)
        present = sorted(p.name for p in folder.iterdir() if p.suffix in FORMATS)
        raise OrchestrateError(
            f"dataset folder {folder} has no {split}.jsonl or {split}.parquet "
            f"(found: {', '.join(present) or 'nothing'})"
        )
    extras.require("datasets", what=f"the Hub dataset {spec.dataset.source}", target=spec.target)
    import datasets  # heavy (pyarrow, fsspec): imported only when a Hub dataset is sampled

    # The locked commit (lockfile.py), else the spec's revision, else the Hub's default branch.
    revision = spec.pins.get("dataset") or spec.dataset.revision
    try:
        return datasets.load_dataset(
            spec.dataset.source, spec.dataset.subset, split=split, **({"revision": revision} if revision else {})
        )
    except Exception as exc:  # datasets raises many types for a missing dataset, split or network
        offline = " (HF_HUB_OFFLINE is set)" if os.environ.get("HF_HUB_OFFLINE") else ""
        raise OrchestrateError(
            f"cannot load split {split!r} of dataset {spec.dataset.source!r}{offline}: "
            f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
        ) from None


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
        out[role] = sorted(perms[split.source_split][start : start + take])
        cursor[split.source_split] = start + take
    return out


def to_ultrachat(row: dict) -> dict:
    """A record in the ultrachat_200k schema: prompt, prompt_id, messages[{role, content}]."""
    messages = row.get("messages")
    if not isinstance(messages, list) or not messages:
        raise OrchestrateError(
            f"dataset rows need a non-empty 'messages' list of {{role, content}} (got keys: {', '.join(sorted(row))})"
        )
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


def splits_exist(splits: Mapping) -> bool:
    """Whether every split the data stage recorded is still on this machine (an apply elsewhere
    recorded them, or they were cleaned away: the same seed writes the same rows again)."""
    return bool(splits) and all(Path(info.get("path", "/nonexistent")).exists() for info in splits.values())
