"""A small JSON Schema (Draft 2020-12) interpreter for the keywords runspec.schema.json uses.

Why not the jsonschema package: importing it (referencing, attrs, every metaschema read from
disk) costs about 75 ms, a third of `orchestrate validate`'s start-up, and the run spec needs
only a handful of keywords. This walks the schema as data; it holds no rule of the spec itself.
A keyword it does not know is refused when the checker is built, so the schema can never use
something that is silently not checked. tests/spec/test_schema_check.py holds it to the
jsonschema package's verdicts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterator

# Annotations: they describe, they never fail.
_ANNOTATIONS = {"$schema", "$id", "$defs", "title", "description", "default", "examples"}
_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    # JSON Schema counts 1.0 as an integer, as the jsonschema package does.
    "integer": lambda v: (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer()),
}


@dataclass
class SchemaError:
    """One failed keyword, with the fields validate.py reads (named as in the jsonschema package)."""

    validator: str | None  # the keyword; None for a `false` subschema
    validator_value: Any
    instance: Any
    absolute_path: tuple
    schema: Any
    message: str


def json_equal(a: Any, b: Any) -> bool:
    """JSON equality: true is not 1, 1.0 is 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b))
    return a == b


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class Checker:
    """Validates instances against one schema with local $refs already inlined."""

    def __init__(self, schema: Any):
        self._patterns: dict[str, re.Pattern] = {}
        self._compile(schema)
        self.schema = schema

    def _compile(self, node: Any) -> None:
        if isinstance(node, bool):
            return
        unknown = set(node) - _ANNOTATIONS - set(_KEYWORDS) - {"then", "else"}
        if unknown:
            raise ValueError(f"schema keyword(s) not supported by schema_check: {sorted(unknown)}")
        if "pattern" in node:
            self._patterns[node["pattern"]] = re.compile(node["pattern"])
        for key in ("properties",):
            for sub in node.get(key, {}).values():
                self._compile(sub)
        for key in ("items", "additionalProperties", "if", "then", "else"):
            if isinstance(node.get(key), (dict, bool)):
                self._compile(node[key])
        for key in ("allOf", "oneOf"):
            for sub in node.get(key, []):
                self._compile(sub)

    def iter_errors(self, instance: Any) -> Iterator[SchemaError]:
        return self._errors(instance, self.schema, ())

    def is_valid(self, instance: Any, schema: Any) -> bool:
        return next(self._errors(instance, schema, ()), None) is None

    def _errors(self, instance: Any, schema: Any, path: tuple) -> Iterator[SchemaError]:
        if schema is True:
            return
        if schema is False:
            yield SchemaError(None, None, instance, path, False, f"{instance!r} is not allowed here")
            return
        for keyword, value in schema.items():
            check = _KEYWORDS.get(keyword)
            if check is not None:
                yield from check(self, instance, value, schema, path)


def _err(keyword: str, value: Any, instance: Any, path: tuple, schema: dict, message: str) -> SchemaError:
    return SchemaError(keyword, value, instance, path, schema, message)


def _type(c: Checker, instance, value, schema, path):
    kinds = value if isinstance(value, list) else [value]
    if not any(_TYPES[k](instance) for k in kinds):
        yield _err("type", value, instance, path, schema, f"{instance!r} is not of type {value!r}")


def _enum(c, instance, value, schema, path):
    if not any(json_equal(instance, v) for v in value):
        yield _err("enum", value, instance, path, schema, f"{instance!r} is not one of {value!r}")


def _const(c, instance, value, schema, path):
    if not json_equal(instance, value):
        yield _err("const", value, instance, path, schema, f"{value!r} was expected")


def _properties(c, instance, value, schema, path):
    if not isinstance(instance, dict):
        return
    for key, sub in value.items():
        if key in instance:
            yield from c._errors(instance[key], sub, path + (key,))


def _additional(c, instance, value, schema, path):
    if not isinstance(instance, dict):
        return
    extra = [k for k in instance if k not in schema.get("properties", {})]
    if value is False and extra:
        yield _err("additionalProperties", value, instance, path, schema, f"unexpected properties {extra!r}")
    elif isinstance(value, dict):
        for key in extra:
            yield from c._errors(instance[key], value, path + (key,))


def _required(c, instance, value, schema, path):
    if isinstance(instance, dict) and any(k not in instance for k in value):
        yield _err("required", value, instance, path, schema, f"missing {[k for k in value if k not in instance]!r}")


def _bound(keyword: str, fails):
    def check(c, instance, value, schema, path):
        if _is_number(instance) and fails(instance, value):
            yield _err(keyword, value, instance, path, schema, f"{instance!r} fails {keyword} {value!r}")
    return check


def _size(keyword: str, kind: type, fails):
    def check(c, instance, value, schema, path):
        if isinstance(instance, kind) and fails(len(instance), value):
            yield _err(keyword, value, instance, path, schema, f"{instance!r} fails {keyword} {value!r}")
    return check


def _pattern(c, instance, value, schema, path):
    if isinstance(instance, str) and not c._patterns[value].search(instance):
        yield _err("pattern", value, instance, path, schema, f"{instance!r} does not match {value!r}")


def _items(c, instance, value, schema, path):
    if isinstance(instance, list):
        for i, item in enumerate(instance):
            yield from c._errors(item, value, path + (i,))


def _all_of(c, instance, value, schema, path):
    for sub in value:
        yield from c._errors(instance, sub, path)


def _one_of(c, instance, value, schema, path):
    matches = sum(1 for sub in value if c.is_valid(instance, sub))
    if matches != 1:
        yield _err("oneOf", value, instance, path, schema, f"{instance!r} matches {matches} of oneOf")


def _if(c, instance, value, schema, path):
    branch = schema.get("then", True) if c.is_valid(instance, value) else schema.get("else", True)
    yield from c._errors(instance, branch, path)


_KEYWORDS = {
    "type": _type, "enum": _enum, "const": _const, "properties": _properties,
    "additionalProperties": _additional, "required": _required,
    "minimum": _bound("minimum", lambda v, b: v < b), "maximum": _bound("maximum", lambda v, b: v > b),
    "exclusiveMinimum": _bound("exclusiveMinimum", lambda v, b: v <= b),
    "exclusiveMaximum": _bound("exclusiveMaximum", lambda v, b: v >= b),
    "minLength": _size("minLength", str, lambda n, b: n < b), "maxLength": _size("maxLength", str, lambda n, b: n > b),
    "minItems": _size("minItems", list, lambda n, b: n < b), "maxItems": _size("maxItems", list, lambda n, b: n > b),
    "pattern": _pattern, "items": _items, "allOf": _all_of, "oneOf": _one_of, "if": _if,
}
