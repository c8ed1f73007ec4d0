"""Validate a loaded spec: JSON Schema first, then the cross-field rules a schema cannot say.

Every problem becomes a Diagnostic at file:line:col with a JSON path and a fix; all of them are
collected in one pass. The schema file is the single source of truth for keys, types, bounds
and defaults: nothing here restates it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.errors import Diagnostic, SpecError
from orchestrator.spec import semantic
from orchestrator.spec.diagnostics import TYPE_WORDS, describe, json_type
from orchestrator.spec.load import LoadedSpec, load_spec
from orchestrator.spec.schema import deref, fill_defaults, schema, schema_at

__all__ = ["Checked", "check_file", "check_loaded", "load_runspec", "schema", "fill_defaults", "deref", "schema_at"]

if TYPE_CHECKING:
    from orchestrator.spec.model import RunSpec


def _validator():
    from orchestrator import registry

    return _validator_of(tuple(registry.TARGETS.items()))


@lru_cache(maxsize=4)
def _validator_of(targets: tuple[tuple[str, str], ...]):
    # jsonschema is imported here, not at module level: `plan` and `diff` of a valid spec pay for
    # it only when they validate, and `schema`/`init` never do.
    from jsonschema import Draft202012Validator, validators

    # `pattern` as JSON Schema means it (ECMA-262: `$` is the end of the string), not as Python's
    # re.search reads it (`$` also matches before a final newline, so `name: "quickstart\n"`
    # passed `^...$` and went into Azure names, paths and PR comments).
    strict = validators.extend(Draft202012Validator, {"pattern": _pattern})
    # The same schema with its local $refs inlined: resolving a $ref through the `referencing`
    # registry is a third of jsonschema's time on a spec, and this schema's refs are all local.
    return strict(_inline_refs(schema(), schema()))


def _pattern(validator, pattern: str, instance, schema):
    import re

    from jsonschema.exceptions import ValidationError

    if not validator.is_type(instance, "string"):
        return
    anchored = pattern[:-1] + r"\Z" if pattern.endswith("$") and not pattern.endswith(r"\$") else pattern
    if not re.search(anchored, instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _inline_refs(node: Any, root: dict) -> Any:
    if isinstance(node, list):
        return [_inline_refs(item, root) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return _inline_refs(deref(node, root), root)
    return {key: (value if key == "$defs" else _inline_refs(value, root)) for key, value in node.items()}


@dataclass
class Checked:
    """The result of checking one spec: the typed spec when valid, and every diagnostic."""

    path: str
    diagnostics: list[Diagnostic] = field(default_factory=list)
    spec: RunSpec | None = None
    data: dict | None = None  # the spec with defaults filled (for diff), when schema-valid

    @property
    def ok(self) -> bool:
        return not any(d.severity == "error" for d in self.diagnostics)


def check_file(path: str | Path, *, env: dict | None = None, interpolate: bool = True, build: bool = True) -> Checked:
    """Load and validate a spec file, never raising for a user mistake.

    build=False skips making the typed RunSpec (the `validate` command only needs the verdict,
    and the dataclasses cost a tenth of its start-up).
    """
    try:
        loaded = load_spec(path, env=env, interpolate=interpolate)
    except SpecError as exc:
        return Checked(str(path), list(exc.diagnostics))
    return check_loaded(loaded, build=build)


def check_loaded(loaded: LoadedSpec, *, build: bool = True) -> Checked:
    result = Checked(loaded.path)
    data = loaded.data
    if not isinstance(data, dict):
        got = TYPE_WORDS.get(json_type(data), type(data).__name__)
        result.diagnostics.append(
            Diagnostic(
                loaded.path,
                1,
                1,
                f"a spec is a mapping of keys (version, name, model, ...), got {got}",
                hint="start from `orchestrate init`",
            )
        )
        return result
    # is_valid stops at nothing to collect: a valid spec (the usual case) costs a fifth less.
    errors = (
        []
        if _validator().is_valid(data)
        else sorted(
            _validator().iter_errors(data), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path)))
        )
    )
    for error in errors:
        result.diagnostics.extend(describe(error, loaded))
    if not result.diagnostics:
        filled = fill_defaults(data)
        result.data = filled
        result.diagnostics.extend(semantic.check(filled, loaded))
        if result.ok and build:
            from orchestrator.spec.model import build_runspec

            result.spec = build_runspec(filled, loaded.path, finetune_set=_dotted_keys(data.get("finetune") or {}))
    result.diagnostics = _dedupe(sorted(result.diagnostics, key=lambda d: (d.line, d.col, d.message)))
    return result


def _dotted_keys(data: dict, prefix: str = "") -> tuple[str, ...]:
    """The leaf keys a mapping sets, dotted ({"lora": {"r": 8}} -> ("lora.r",)), before defaults."""
    keys: list[str] = []
    for key, value in data.items():
        if isinstance(value, dict):
            keys.extend(_dotted_keys(value, f"{prefix}{key}."))
        else:
            keys.append(f"{prefix}{key}")
    return tuple(sorted(keys))


def load_runspec(path: str | Path, *, env: dict | None = None) -> RunSpec:
    """The typed spec, or SpecError carrying every problem."""
    checked = check_file(path, env=env)
    if not checked.ok:
        raise SpecError(checked.diagnostics)
    assert checked.spec is not None
    return checked.spec


def _dedupe(diags: list[Diagnostic]) -> list[Diagnostic]:
    seen: set = set()
    out = []
    for d in diags:
        key = (d.line, d.col, d.message, d.json_path)
        if key not in seen:
            seen.add(key)
            out.append(d)
    return out
