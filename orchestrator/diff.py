"""What a spec change means: changed fields (after defaults are filled) and the stages each reruns.

Pure: takes spec texts (from files or git blobs), returns a SpecDiff value; views render it.
Formatting-only edits (comments, key order, quoting) give no change because the loaded data is
compared, not the text. A field's reruns come from the fingerprints of the old spec with only
that field changed, so they are exact, not a hand-kept table.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from orchestrator import lockfile
from orchestrator.errors import Diagnostic, OrchestrateError, SpecError
from orchestrator.estimate import Estimate, estimate
from orchestrator.kinds import DiffStatus
from orchestrator.plan import fingerprints
from orchestrator.spec.load import load_text_bytes
from orchestrator.spec.model import build_runspec
from orchestrator.spec.validate import check_loaded, fill_defaults

ABSENT = "(absent)"


def json_equal(a: Any, b: Any) -> bool:
    """JSON equality: true is not 1, 1.0 is 1 (so `epochs: 1.0` is no change from `epochs: 1`)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    return a == b


@dataclass(frozen=True)
class FieldChange:
    path: str
    old: Any
    new: Any
    reruns: tuple[str, ...]


@dataclass(frozen=True)
class SpecDiff:
    old_name: str | None
    new_name: str | None
    status: DiffStatus
    changes: tuple[FieldChange, ...] = ()
    reruns: tuple[str, ...] = ()
    diagnostics: tuple[Diagnostic, ...] = field(default_factory=tuple)
    estimate_before: Estimate | None = None
    estimate_after: Estimate | None = None
    rollout: str = ""  # how the new model goes live, when the change makes a new deployment

    @property
    def estimate_changed(self) -> bool:
        return (
            self.estimate_before is not None
            and self.estimate_after is not None
            and (self.estimate_before.finetune_gpu_hours, self.estimate_before.endpoint_instance_hours_per_day)
            != (self.estimate_after.finetune_gpu_hours, self.estimate_after.endpoint_instance_hours_per_day)
        )

    @property
    def name(self) -> str:
        return self.new_name or self.old_name or "?"

    def to_dict(self) -> dict:
        data = asdict(self)
        data["name"] = self.name
        return data


def _load(raw: bytes, name: str | None) -> tuple[dict | None, list[Diagnostic]]:
    """Schema-checked data with defaults filled; ${env:...} is compared as written, not resolved."""
    try:
        loaded = load_text_bytes(raw, name or "(unnamed)", interpolate=False)
    except SpecError as exc:
        return None, list(exc.diagnostics)
    # Only schema errors block a diff: cross-field checks such as "the data folder exists" speak
    # of the working tree, not of an old revision.
    checked = check_loaded(loaded, build=False)
    if checked.data is None:
        return None, [d for d in checked.diagnostics if d.severity == "error"]
    return checked.data, []


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


def _set(data: dict, path: str, value: Any) -> None:
    parts = path.split(".")
    node = data
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    if value is ABSENT:
        node.pop(parts[-1], None)
    else:
        node[parts[-1]] = value


def _prints(data: dict, pins: Mapping[str, str] | None = None) -> dict[str, str] | None:
    try:
        return fingerprints(replace(build_runspec(fill_defaults(data)), pins=dict(pins or {})))
    except (AssertionError, KeyError, TypeError, ValueError):
        return None  # a one-field edit that only makes sense with another edit


def _pins(lock: bytes | None, data: dict | None, name: str | None) -> dict[str, str]:
    """The versions a lock file pins that apply to the spec (their reference is the spec's)."""
    if lock is None or data is None:
        return {}
    try:
        pins = lockfile.parse(lock, f"{name or 'spec'} lock")["pins"]
        refs = lockfile.refs(build_runspec(fill_defaults(data), name or ""))
        return {kind: str(pin["version"]) for kind, pin in pins.items() if refs.get(kind) == pin["ref"]}
    except (OrchestrateError, TypeError, KeyError, AssertionError, ValueError):
        return {}  # an unreadable lock: apply says so; the spec's own diff still stands


def _reruns(before: dict[str, str] | None, after: dict[str, str] | None) -> tuple[str, ...]:
    if before is None or after is None:
        return ()
    names = list(dict.fromkeys([*before, *after]))
    return tuple(n for n in names if before.get(n) != after.get(n))


def diff_specs(
    old: bytes | None,
    old_name: str | None,
    new: bytes | None,
    new_name: str | None,
    old_lock: bytes | None = None,
    new_lock: bytes | None = None,
) -> SpecDiff:
    """Compare two versions of a spec, with their lock files; either side may be missing (added or
    removed file). A moved pin shows as a `lock.<kind>` change with the stages it reruns; a pin
    that appears (the first lock) reruns nothing: it records what the reference resolved to."""
    if old is None and new is None:
        raise ValueError("nothing to compare")
    if old is None or new is None:
        status = DiffStatus.ADDED if old is None else DiffStatus.REMOVED
        raw, name = (new, new_name) if new is not None else (old, old_name)
        assert raw is not None
        data, diags = _load(raw, name)
        prints = _prints(data) if data is not None else None
        return SpecDiff(
            old_name,
            new_name,
            DiffStatus.INVALID if diags else status,
            reruns=tuple(prints or ()),
            diagnostics=tuple(diags),
        )
    old_data, old_diags = _load(old, old_name)
    new_data, new_diags = _load(new, new_name)
    if old_data is None or new_data is None:
        return SpecDiff(old_name, new_name, DiffStatus.INVALID, diagnostics=tuple(old_diags + new_diags))
    flat_old, flat_new = _flatten(old_data), _flatten(new_data)
    old_pins, new_pins = _pins(old_lock, old_data, old_name), _pins(new_lock, new_data, new_name)
    base = _prints(old_data, old_pins)
    changes = []
    for path in sorted(set(flat_old) | set(flat_new), key=_order(flat_old, flat_new)):
        a, b = flat_old.get(path, ABSENT), flat_new.get(path, ABSENT)
        if json_equal(a, b):  # 5 and 5.0 are the same number: a formatting change, not a diff
            continue
        single = copy.deepcopy(old_data)
        _set(single, path, b)
        changes.append(FieldChange(path, a, b, _reruns(base, _prints(single, old_pins))))
    for kind in sorted(set(old_pins) | set(new_pins)):
        a, b = old_pins.get(kind, ABSENT), new_pins.get(kind, ABSENT)
        if a == b:
            continue
        moved = {**old_pins, kind: b} if b is not ABSENT else {k: v for k, v in old_pins.items() if k != kind}
        reruns = _reruns(base, _prints(old_data, moved)) if a is not ABSENT else ()
        changes.append(FieldChange(f"lock.{kind}", a, b, reruns))
    renamed = old_name != new_name and old_name is not None and new_name is not None
    status = DiffStatus.RENAMED if renamed else (DiffStatus.MODIFIED if changes else DiffStatus.UNCHANGED)
    return SpecDiff(
        old_name,
        new_name,
        status,
        tuple(changes),
        # A pin that appears reruns nothing (see above): the new side keeps only the pins the old had.
        _reruns(base, _prints(new_data, {k: v for k, v in new_pins.items() if k in old_pins})),
        estimate_before=_estimate(old_data, old_name),
        estimate_after=_estimate(new_data, new_name),
        rollout=_rollout(old_data, old_pins, new_data, new_pins),
    )


def _rollout(old_data: dict, old_pins: Mapping[str, str], new_data: dict, new_pins: Mapping[str, str]) -> str:
    """`deployment demo-9c8d7e -> demo-3f2a1b: beside it; smoke and evaluate at 0 %; ...` when the
    change makes a new deployment (a new model, the SKU); "" otherwise."""
    from orchestrator.naming import deployment_name
    from orchestrator.rollout import describe

    try:
        old, new = (
            replace(build_runspec(fill_defaults(d)), pins=dict(p))
            for d, p in ((old_data, old_pins), (new_data, new_pins))
        )
    except (AssertionError, KeyError, TypeError, ValueError):
        return ""
    before, after = deployment_name(old), deployment_name(new)
    if before == after or not new.deployment.rollout.blue_green:
        return ""
    return f"deployment {before} -> {after}: created beside it; {describe(new, after, before)}"


def _estimate(data: dict, name: str | None) -> Estimate | None:
    try:
        return estimate(build_runspec(fill_defaults(data), name or ""))
    except (AssertionError, KeyError, TypeError, ValueError, OSError):
        return None


def _order(flat_old: dict, flat_new: dict):
    # Keep the spec's own key order (new file first), not the alphabet.
    order: dict[str, int] = {}
    for path in [*flat_new, *flat_old]:
        order.setdefault(path, len(order))
    return lambda path: order[path]
