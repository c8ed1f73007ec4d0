"""jsonschema's errors as Diagnostics: located at file:line:col, worded for people, with a fix.

Each failing keyword has its own wording (unknown key -> did-you-mean, a bound -> the sentence of
the schema description that explains it, ...); nothing here restates a rule of the schema.
"""

from __future__ import annotations

import difflib
from typing import Any

from orchestrator.errors import Diagnostic
from orchestrator.spec.load import LoadedSpec, json_path
from orchestrator.spec.schema import schema, schema_at

TYPE_WORDS = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "null": "nothing",
}


def describe(error, loaded: LoadedSpec) -> list[Diagnostic]:
    path = tuple(error.absolute_path)
    handler = _HANDLERS.get(error.validator, _generic)
    return handler(error, path, loaded)


def _diag(loaded: LoadedSpec, path: tuple, message: str, hint: str = "", *, key: bool = False) -> Diagnostic:
    mark = loaded.mark(path, key=key)
    return Diagnostic(loaded.path, mark.line, mark.col, message, json_path(path), hint)


def _section(path: tuple) -> str:
    return ".".join(str(p) for p in path) if path else "the spec"


def _additional(error, path, loaded):
    allowed = sorted(error.schema.get("properties", {}))
    out = []
    for key in error.instance:
        if key in allowed:
            continue
        close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'?" if close else f"allowed keys: {', '.join(allowed)}"
        out.append(_diag(loaded, path + (key,), f"unknown key '{key}' in {_section(path)}", hint, key=True))
    return out


def _required(error, path, loaded):
    missing = [k for k in error.validator_value if k not in error.instance]
    out = []
    for key in missing:
        what = _first_sentence(schema_at(path + (key,)).get("description", ""))
        target_note = ""
        if path == () and key in ("workspace", "compute") or path == ("deployment",) and key == "sku":
            target_note = " (needed by target azureml)"
        out.append(
            _diag(
                loaded,
                path,
                f"missing required key '{key}' in {_section(path)}{target_note}",
                f"add '{key}:'" + (f": {what}" if what else ""),
            )
        )
    return out


def _false(error, path, loaded):
    # The only `false` subschemas are the keys the local target forbids. jsonschema reports one at
    # the parent's path, under the `properties` keyword holding it: name every key it forbids there
    # (one error per key, so the same diagnostics come again and are deduplicated).
    forbidden = _value_at(schema(), tuple(error.schema_path))
    parent = _value_at(loaded.data, path)
    keys = [k for k, sub in forbidden.items() if sub is False and k in parent]
    return [
        _diag(
            loaded,
            path + (key,),
            f"'{_section(path + (key,))}' is not used by target local",
            "remove it, or set target: azureml",
            key=True,
        )
        for key in keys
    ]


def _value_at(data: Any, path: tuple) -> Any:
    """The value at a path of keys and indices (in the spec, or in the schema)."""
    for part in path:
        data = data[part]
    return data


def _enum(error, path, loaded):
    allowed = error.validator_value
    value = error.instance
    hint = f"use one of: {', '.join(map(str, allowed))}"
    if isinstance(value, str):
        lowered = {str(a).lower(): a for a in allowed}
        close = (
            [lowered[value.lower()]]
            if value.lower() in lowered
            else difflib.get_close_matches(value, [str(a) for a in allowed], n=1, cutoff=0.5)
        )
        if close:
            hint = f"did you mean '{close[0]}'? {hint}"
    return [_diag(loaded, path, f"{_show(value)} is not an allowed value for {_section(path)}", hint)]


def _const(error, path, loaded):
    expected = error.validator_value
    if path == ("deployment", "instance_count"):
        return [_diag(loaded, path, "target local runs one instance", "set instance_count: 1 or remove it")]
    return [
        _diag(
            loaded,
            path,
            f"{_section(path)} must be {_show(expected)}, got {_show(error.instance)}",
            f"set {_section(path)}: {_show(expected)}",
        )
    ]


def _type(error, path, loaded):
    expected = error.validator_value
    expected = expected if isinstance(expected, list) else [expected]
    want = " or ".join(TYPE_WORDS.get(t) or t for t in expected)
    value = error.instance
    got = TYPE_WORDS.get(json_type(value), "?")
    hint = _first_sentence(schema_at(path).get("description", ""))
    if value is None:
        hint = "fill in the value, or remove the key to use the default"
    elif isinstance(value, str) and _looks_numeric(value) and ("number" in expected or "integer" in expected):
        hint = "remove the quotes"
    elif isinstance(value, float) and "integer" in expected and value.is_integer():
        hint = f"write {int(value)}"
    return [_diag(loaded, path, f"{_section(path)} must be {want}, got {got} {_show(value)}".rstrip(), hint)]


def _bound(error, path, loaded):
    words = {
        "minimum": "at least",
        "maximum": "at most",
        "exclusiveMinimum": "more than",
        "exclusiveMaximum": "less than",
    }
    hint = _sentence_about(schema_at(path).get("description", ""), str(error.validator_value))
    return [
        _diag(
            loaded,
            path,
            f"{_section(path)} must be {words[error.validator]} {_show(error.validator_value)}, "
            f"got {_show(error.instance)}",
            hint,
        )
    ]


def _length(error, path, loaded):
    words = {
        "minLength": "at least",
        "maxLength": "at most",
        "minItems": "at least",
        "maxItems": "at most",
        "minProperties": "at least",
    }
    unit = "characters" if "Length" in error.validator else "items"
    return [
        _diag(
            loaded,
            path,
            f"{_section(path)} must have {words[error.validator]} {error.validator_value} "
            f"{unit}, got {len(error.instance)}",
            _first_sentence(schema_at(path).get("description", "")),
        )
    ]


def _pattern(error, path, loaded):
    desc = _first_sentence(schema_at(path).get("description", "")) or f"it must match {error.validator_value}"
    return [_diag(loaded, path, f"{_show(error.instance)} is not a valid {_section(path)}", desc)]


def _one_of(error, path, loaded):
    hint = _first_sentence(schema_at(path).get("description", ""))
    words = [o["const"] for o in error.validator_value if "const" in o]
    words += [w for o in error.validator_value for w in o.get("enum", [])]
    if isinstance(error.instance, str):
        close = difflib.get_close_matches(error.instance, [str(w) for w in words], n=1, cutoff=0.5)
        if close:
            hint = f"did you mean '{close[0]}'?"
    return [_diag(loaded, path, f"{_show(error.instance)} is not a valid {_section(path)}", hint)]


def _generic(error, path, loaded):
    return [_diag(loaded, path, error.message)]


_HANDLERS = {
    "additionalProperties": _additional,
    "required": _required,
    None: _false,  # a `false` subschema has no keyword
    "enum": _enum,
    "const": _const,
    "type": _type,
    "minimum": _bound,
    "maximum": _bound,
    "exclusiveMinimum": _bound,
    "exclusiveMaximum": _bound,
    "minLength": _length,
    "maxLength": _length,
    "minItems": _length,
    "maxItems": _length,
    "minProperties": _length,
    "pattern": _pattern,
    "oneOf": _one_of,
}


def _first_sentence(text: str) -> str:
    head = text.split(". ")[0].strip()
    return head.rstrip(".")


def _sentence_about(text: str, needle: str) -> str:
    """The description sentence that explains a bound (it names the number), else the first one."""
    for sentence in text.split(". "):
        if needle in sentence:
            return sentence.strip().rstrip(".")
    return _first_sentence(text)


def _show(value: Any) -> str:
    if isinstance(value, str):
        shown = value if len(value) <= 60 else value[:57] + "..."
        return repr(shown)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return ""
    return repr(value)


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
