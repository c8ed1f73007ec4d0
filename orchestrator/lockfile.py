"""The lock file: what a spec's moving references resolved to, committed beside the spec.

`model.version: latest`, the registry's `chat_completion_pipeline` at `labels/latest` and a Hub
dataset without a revision can each mean something else next month. The first `apply` (or
`orchestrate lock`) resolves them and writes `<spec>.lock` beside `<spec>.yaml`; later plans and
applies use those versions, and say when the registry has something newer. The pins are inputs
of the fingerprints (model -> the model stage, component -> the fine-tune, dataset revision ->
the data stage), so `orchestrate lock --upgrade` shows in `plan` and `diff` as the stages it reruns.

A pin holds the reference it resolved (`ref`) as well as the version: when the spec names
another model, dataset or registry, the old pin no longer applies and is resolved anew.

Plain YAML with a header comment, sorted keys, one pin per block: it reads well in a pull request
(Terraform's `.terraform.lock.hcl` does the same for providers).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import yaml

from orchestrator.errors import OrchestrateError, SpecError
from orchestrator.spec.model import RunSpec
from orchestrator.state import atomic_write

LOCK_VERSION = 1
KINDS = ("model", "component", "dataset")
SHA = re.compile(r"[0-9a-f]{40}")


@dataclass(frozen=True)
class Pin:
    ref: str  # what the spec refers to: a registry label or version URI, a Hub dataset id
    version: str  # what it resolved to: a model or component version, a Hub commit sha


def path_for(spec: RunSpec | str | Path) -> Path:
    """`specs/run.yaml` -> `specs/run.lock`."""
    source = spec.source_path if isinstance(spec, RunSpec) else str(spec)
    return Path(source).with_suffix(".lock")


def read(spec: RunSpec) -> dict[str, Pin]:
    """The pins of the spec's lock file ({} when there is none)."""
    if not spec.source_path:
        return {}
    path = path_for(spec)
    try:
        data = parse(path.read_bytes(), str(path))
    except FileNotFoundError:
        return {}
    if not isinstance(data, dict) or data.get("lock_version") != LOCK_VERSION or not isinstance(data.get("pins"), dict):
        raise OrchestrateError(
            f"{path} is not a lock file of this orchestrate (lock_version {LOCK_VERSION}); "
            "delete it and run `orchestrate lock`"
        )
    pins = {}
    for kind, pin in data["pins"].items():
        if kind not in KINDS or not isinstance(pin, dict) or not pin.get("ref") or not pin.get("version"):
            raise OrchestrateError(f"{path}: pin {kind!r} needs a known kind ({', '.join(KINDS)}), ref and version")
        pins[kind] = Pin(str(pin["ref"]), str(pin["version"]))
    return pins


def parse(raw: bytes, display: str):
    """A lock file's YAML, read by the spec loader with its limits (1 MiB, alias expansion, one
    document, plain scalars): a lock beside a spec in a pull request is as untrusted as the spec."""
    from orchestrator.spec.load import load_text_bytes

    try:
        return load_text_bytes(raw, display, interpolate=False).data
    except SpecError as exc:
        first = exc.diagnostics[0] if exc.diagnostics else None
        why = f"{first.line}:{first.col}: {first.message}" if first else "unreadable"
        raise OrchestrateError(f"{display} is not a lock file ({why}); delete it and run `orchestrate lock`") from None


def refs(spec: RunSpec) -> dict[str, str]:
    """The spec's moving references by kind, as a pin records them (what can resolve differently)."""
    from orchestrator import registry
    from orchestrator.dataprep import source_dir

    own = registry.info(spec.target).refs  # the target's own: a registry's model, a component
    out = own(spec) if own is not None else {}
    if source_dir(spec) is None:  # a Hub dataset
        subset = f" ({spec.dataset.subset})" if spec.dataset.subset else ""
        out["dataset"] = f"{spec.dataset.source}{subset}@{spec.dataset.revision or 'default branch'}"
    return out


def applicable(spec: RunSpec, pins: Mapping[str, Pin]) -> dict[str, Pin]:
    """The pins that still describe what the spec refers to."""
    wanted = refs(spec)
    return {kind: pin for kind, pin in pins.items() if wanted.get(kind) == pin.ref}


def with_pins(spec: RunSpec, pins: Mapping[str, Pin]) -> RunSpec:
    return replace(spec, pins={kind: pin.version for kind, pin in sorted(pins.items())})


def locked(spec: RunSpec) -> RunSpec:
    """The spec with its lock file's pins, without asking anything (plan --offline, render, diff)."""
    return with_pins(spec, applicable(spec, read(spec)))


def text(spec: RunSpec, pins: Mapping[str, Pin]) -> str:
    name = Path(spec.source_path).name
    header = (
        f"# Written by orchestrate: what {name} resolved to. Commit it: plan and apply use these\n"
        f"# versions until `orchestrate lock --upgrade {spec.source_path}` moves them.\n"
    )
    body = {
        "lock_version": LOCK_VERSION,
        "run": spec.name,
        "pins": {kind: {"ref": pin.ref, "version": pin.version} for kind, pin in sorted(pins.items())},
    }
    return header + yaml.safe_dump(body, sort_keys=True, default_flow_style=False)


def write(spec: RunSpec, pins: Mapping[str, Pin]) -> Path | None:
    """Write the lock when its content changes; the path written, or None. No pins, no file."""
    if not pins or not spec.source_path:
        return None
    if _holds(spec, pins):
        return None
    path = path_for(spec)
    atomic_write(path, text(spec, pins))
    return path


def _holds(spec: RunSpec, pins: Mapping[str, Pin]) -> bool:
    """Whether the lock file on disk is exactly what these pins write."""
    path = path_for(spec)
    return path.is_file() and path.read_text(encoding="utf-8") == text(spec, pins)


def check_current(spec: RunSpec, pins: Mapping[str, Pin]) -> None:
    """For `--locked` (CI): refuse when the lock file lacks, or differs from, what the run would use."""
    path = path_for(spec)
    if pins and not _holds(spec, pins):
        state = "out of date" if path.is_file() else "missing"
        raise OrchestrateError(
            f"{path} is {state} (--locked): run `orchestrate lock {spec.source_path}` and commit the lock file"
        )


def changes(old: Mapping[str, Pin], new: Mapping[str, Pin]) -> list[str]:
    """One line per pin: `model Phi-4: 8 -> 9`, `... 8 (unchanged)`, `... 8 (new)`."""
    lines = []
    for kind in sorted(new):
        pin, was = new[kind], old.get(kind)
        label = f"{kind} {_short_ref(pin.ref)}"
        if was is None or was.ref != pin.ref:
            lines.append(f"{label}: {pin.version} (new)")
        elif was.version != pin.version:
            lines.append(f"{label}: {was.version} -> {pin.version}")
        else:
            lines.append(f"{label}: {pin.version} (unchanged)")
    return lines


def _short_ref(ref: str) -> str:
    """azureml://registries/azureml/models/X/labels/latest -> X; a dataset ref as it is."""
    parts = ref.split("/")
    if ref.startswith("azureml://") and len(parts) >= 6:
        return parts[5]
    return ref


def dataset_pin(spec: RunSpec, pins: Mapping[str, Pin], upgrade: bool) -> tuple[Pin | None, str]:
    """A Hub dataset's revision as a commit sha: the locked one, the spec's own sha, or what the
    Hub serves now. (None, why) when it cannot be pinned (offline, a local folder)."""
    ref = refs(spec).get("dataset")
    if ref is None:
        return None, ""
    if "dataset" in pins and not upgrade:
        return pins["dataset"], ""
    revision = spec.dataset.revision
    if revision and SHA.fullmatch(revision):
        return Pin(ref, revision), ""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        return None, f"dataset {spec.dataset.source}: revision not pinned (HF_HUB_OFFLINE is set)"
    try:
        from huggingface_hub import HfApi  # installed with `datasets`, which a Hub dataset needs

        sha = HfApi().dataset_info(spec.dataset.source, revision=revision).sha
    except Exception as exc:  # offline, private, missing: the data stage reports it when it loads
        return None, f"dataset {spec.dataset.source}: revision not pinned ({type(exc).__name__})"
    return (Pin(ref, sha), "") if sha else (None, f"dataset {spec.dataset.source}: the Hub named no revision")
