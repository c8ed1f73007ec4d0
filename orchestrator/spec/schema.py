"""The run spec's JSON Schema as data: loaded once, walked by path, and its defaults filled in.

schemas/runspec.schema.json is the single source of truth for keys, types, bounds and defaults;
validation (validate.py), the error wording (diagnostics.py) and the docs (docs.py) read it here.
What is one target's (the keys it requires or forbids) is that target's fragment
(registry.TargetInfo.schema): `schema()` composes the file with the registered targets' fragments,
so a target added to the registry is a `target:` the schema accepts. The file holds the composition
for editors; a test keeps it equal to `schema()` (regenerate: `orchestrate schema > schemas/...`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from orchestrator.resources import SCHEMA_PATH


def schema() -> dict:
    from orchestrator import registry

    return _composed(tuple(registry.TARGETS.items()))


@lru_cache(maxsize=4)
def _composed(targets: tuple[tuple[str, str], ...]) -> dict:
    """The file's schema with `target` and its per-target branches as the registry has them."""
    from orchestrator import registry

    root = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    root["properties"]["target"]["enum"] = [name for name, _ in targets]
    others = [entry for entry in root.get("allOf", []) if not _names_a_target(entry)]
    root["allOf"] = [*(_branch(name, registry.info(name).fragment()) for name, _ in targets), *others]
    return root


def _branch(name: str, fragment: dict) -> dict:
    """`if target is <name> then <fragment>`; the default target's also when `target` is absent."""
    from orchestrator import registry

    when: dict = {"properties": {"target": {"const": name}}}
    if name != registry.DEFAULT:
        when["required"] = ["target"]
    return {"if": when, "then": fragment}


def _names_a_target(entry: dict) -> bool:
    return "target" in entry.get("if", {}).get("properties", {})


def fill_defaults(data: dict) -> dict:
    """A copy of `data` with every schema `default` filled in, recursively."""
    return _fill(_copy(data), schema(), schema())


def _copy(value: Any) -> Any:
    # Spec data is only dicts, lists and scalars: a plain recursive copy is 6x faster than deepcopy.
    if isinstance(value, dict):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy(item) for item in value]
    return value


def _fill(value: Any, node: dict, root: dict) -> Any:
    node = deref(node, root)
    if isinstance(value, list) and isinstance(node.get("items"), dict):
        return [_fill(item, node["items"], root) for item in value]
    if not isinstance(value, dict):
        return value
    props = node.get("properties", {})
    for key, sub in props.items():
        sub_resolved = deref(sub, root)
        if key not in value and "default" in sub_resolved:
            value[key] = _copy(sub_resolved["default"])
        if key in value:
            value[key] = _fill(value[key], sub, root)
    return value


def deref(node: dict, root: dict) -> dict:
    """A schema node with its local $ref resolved and merged with the node's own keywords."""
    if "$ref" not in node:
        return node
    target = root
    for part in node["$ref"].lstrip("#/").split("/"):
        target = target[part]
    merged = dict(target)
    merged.update({k: v for k, v in node.items() if k != "$ref"})
    if "properties" in target and "properties" in node:
        merged["properties"] = dict(target["properties"])
        for key, extra in node["properties"].items():
            merged["properties"][key] = {**target["properties"].get(key, {}), **extra}
    return merged


def schema_at(path: Iterable) -> dict:
    """The (dereferenced) schema node describing the value at a JSON path, or {}."""
    root = schema()
    node = root
    for part in path:
        node = deref(node, root)
        if isinstance(part, int):
            node = node.get("items", {})
        else:
            node = node.get("properties", {}).get(part, {})
    return deref(node, root)
