"""The spec reference in Markdown, generated from the schema's descriptions (README, `schema --markdown`)."""

from __future__ import annotations

import json

from orchestrator.spec.schema import deref as _deref


def reference_markdown(schema: dict) -> str:
    lines = ["| key | type | default | description |", "|---|---|---|---|"]
    _walk(schema, schema, "", lines)
    return "\n".join(lines) + "\n"


def _walk(node: dict, root: dict, prefix: str, lines: list[str]) -> None:
    for key, sub in node.get("properties", {}).items():
        resolved = _deref(sub, root)
        path = f"{prefix}{key}"
        lines.append(
            f"| `{path}` | {_type(resolved)} | {_default(resolved)} | {_cell(resolved.get('description', ''))} |"
        )
        if "properties" in resolved:
            _walk(resolved, root, path + ".", lines)
        if resolved.get("additionalProperties") not in (False, None, True):
            _walk(_deref(resolved["additionalProperties"], root), root, path + ".<name>.", lines)


def _type(node: dict) -> str:
    if "enum" in node:
        return " \\| ".join(f"`{v}`" for v in node["enum"])
    if "const" in node:
        return f"`{node['const']}`"
    if "oneOf" in node:
        return " or ".join(_type(o) for o in node["oneOf"])
    kind = node.get("type", "")
    kind = " or ".join(kind) if isinstance(kind, list) else kind
    bounds = []
    for word, sym in (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="), ("exclusiveMaximum", "<")):
        if word in node:
            bounds.append(f"{sym} {node[word]}")
    return kind + (f" ({', '.join(bounds)})" if bounds else "")


def _default(node: dict) -> str:
    if "default" not in node or node["default"] == {}:
        return ""
    return f"`{json.dumps(node['default'])}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
