"""Read a spec file into plain data with a line/column mark for every key and value.

Scalars are typed by the YAML 1.2 core schema, not PyYAML's YAML 1.1 rules: `5e-6` is a
number, `yes`/`on`/`no` are strings, `010` is ten. Custom tags, duplicate keys, files over
1 MiB and alias explosions are refused with a located error.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from orchestrator.errors import Diagnostic, SpecError
from orchestrator.escape import CONTROL, visible

MAX_BYTES = 1024 * 1024  # a run spec is a page of YAML; anything near 1 MiB is a mistake
MAX_NODES = 20_000  # nodes after alias expansion: stops "billion laughs" long before memory does
MAX_DEPTH = 64  # nesting levels: a spec has about five; Python's stack ends near 500

JsonPath = tuple  # tuple[str | int, ...]

_PLAIN = "tag:orchestrate,plain"
_STR = "tag:yaml.org,2002:str"
_CORE_TAGS = {
    _STR,
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:map",
    "tag:yaml.org,2002:seq",
}
# YAML 1.2 core schema (https://yaml.org/spec/1.2.2/#1032-tag-resolution).
_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_INT10 = re.compile(r"^[-+]?[0-9]+$")
_INT8 = re.compile(r"^0o[0-7]+$")
_INT16 = re.compile(r"^0x[0-9a-fA-F]+$")
_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")
_INF = re.compile(r"^[-+]?\.(?:inf|Inf|INF)$")
_NAN = re.compile(r"^\.(?:nan|NaN|NAN)$")
_ENV = re.compile(r"\$(\$?)\{env:([^}]*)\}")
# Where a spec may read the environment: the workspace's ids, which are not secrets but differ per
# team or CI. Anywhere else a variable's value would be printed by plan, saved in plans, put into
# Azure names and tags and PR comments: a secret in the environment must not get there by a typo.
ENV_PATHS = frozenset(("workspace", key) for key in ("subscription_id", "resource_group", "name", "config_file"))
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class Mark(NamedTuple):
    line: int  # 1-based, as editors count
    col: int


@dataclass
class LoadedSpec:
    """The spec as plain data plus where each piece came from."""

    path: str
    data: Any
    marks: dict = field(default_factory=dict)  # JsonPath -> Mark of the value
    key_marks: dict = field(default_factory=dict)  # JsonPath -> Mark of the mapping key

    def mark(self, path: JsonPath, *, key: bool = False) -> Mark:
        """The closest known mark for a path: the node itself, else its nearest parent."""
        path = tuple(path)
        while True:
            if key and path in self.key_marks:
                return self.key_marks[path]
            if path in self.marks:
                return self.marks[path]
            if not path:
                return Mark(1, 1)
            path = path[:-1]


_BaseLoader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C composer where libyaml is there


class _Loader(_BaseLoader):
    """Composes the node tree only; plain scalars keep a marker tag so we type them ourselves."""

    def resolve(self, kind, value, implicit):  # noqa: D401 - PyYAML hook
        if kind is yaml.ScalarNode and implicit[0]:
            return _PLAIN
        return super().resolve(kind, value, implicit)


def load_spec(
    path: str | os.PathLike,
    *,
    env: Mapping[str, str] | None = None,
    interpolate: bool = True,
    env_paths: frozenset | None = ENV_PATHS,
) -> LoadedSpec:
    """Load a spec file. Raises SpecError with located diagnostics for any problem."""
    display = str(path)
    try:
        raw = Path(path).read_bytes() if Path(path).stat().st_size <= MAX_BYTES else None
    except FileNotFoundError:
        raise SpecError([Diagnostic(display, 1, 1, "file not found", hint="check the path")]) from None
    except IsADirectoryError:
        raise SpecError(
            [Diagnostic(display, 1, 1, "is a directory, not a spec file", hint="name a .yaml file")]
        ) from None
    except OSError as exc:
        raise SpecError([Diagnostic(display, 1, 1, f"cannot read the file: {exc.strerror}")]) from None
    if raw is None:
        raise _too_large(display)
    return load_text_bytes(raw, display, env=env, interpolate=interpolate, env_paths=env_paths)


def _too_large(display: str) -> SpecError:
    return SpecError(
        [
            Diagnostic(
                display,
                1,
                1,
                f"file is larger than {MAX_BYTES // 1024} KiB",
                hint="a run spec is a short YAML file; is this the right file?",
            )
        ]
    )


def load_text_bytes(
    raw: bytes,
    display: str,
    *,
    env: Mapping[str, str] | None = None,
    interpolate: bool = True,
    env_paths: frozenset | None = ENV_PATHS,
) -> LoadedSpec:
    """Load a spec from bytes (a file, or a git blob); `display` names it in diagnostics."""
    if len(raw) > MAX_BYTES:
        raise _too_large(display)
    if b"\x00" in raw:
        raise SpecError([Diagnostic(display, 1, 1, "file is binary, not YAML text", hint="name a .yaml file")])
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise SpecError([Diagnostic(display, line, 1, "file is not UTF-8 text", hint="save it as UTF-8")]) from None
    return load_text(text, display, env=env, interpolate=interpolate, env_paths=env_paths)


def load_text(
    text: str,
    display: str,
    *,
    env: Mapping[str, str] | None = None,
    interpolate: bool = True,
    env_paths: frozenset | None = ENV_PATHS,
) -> LoadedSpec:
    """Load a spec from text; `display` names it in diagnostics."""
    try:
        nodes = list(yaml.compose_all(text, Loader=_Loader))
    except RecursionError:
        # PyYAML's composer recurses once per level: ~490 nested [ or { exhaust the stack.
        raise SpecError(
            [
                Diagnostic(
                    display, 1, 1, "the document is nested too deeply to read", hint="a run spec is a few levels deep"
                )
            ]
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        what = exc.problem or "invalid YAML"
        if exc.context:
            what = f"{exc.context}: {what}"
        raise SpecError(
            [Diagnostic(display, line, col, f"invalid YAML: {what}", hint="check indentation, colons and quotes")]
        ) from None
    except yaml.YAMLError as exc:
        raise SpecError([Diagnostic(display, 1, 1, f"invalid YAML: {exc}")]) from None
    nodes = [n for n in nodes if n is not None]
    if not nodes:
        raise SpecError(
            [
                Diagnostic(
                    display, 1, 1, "spec is empty", hint="start from `orchestrate init`, or see `orchestrate schema`"
                )
            ]
        )
    if len(nodes) > 1:
        second = nodes[1].start_mark
        raise SpecError(
            [
                Diagnostic(
                    display,
                    second.line + 1,
                    second.column + 1,
                    "more than one YAML document (---) in one spec",
                    hint="keep one run per file",
                )
            ]
        )
    builder = _Builder(display, os.environ if env is None else env, interpolate, env_paths)
    data = builder.build(nodes[0], ())
    if builder.diagnostics:
        raise SpecError(builder.diagnostics)
    return LoadedSpec(display, data, builder.marks, builder.key_marks)


class _Builder:
    """Turns a composed node tree into dicts/lists/scalars, recording marks and problems."""

    def __init__(self, display: str, env: Mapping[str, str], interpolate: bool, env_paths: frozenset | None):
        self.display = display
        self.env = env
        self.interpolate = interpolate
        self.env_paths = env_paths  # None: anywhere
        self.marks: dict = {}
        self.key_marks: dict = {}
        self.diagnostics: list[Diagnostic] = []
        self.count = 0

    def error(self, node: yaml.Node, message: str, path: JsonPath, hint: str = "") -> None:
        self.diagnostics.append(
            Diagnostic(
                self.display, node.start_mark.line + 1, node.start_mark.column + 1, message, _json_path(path), hint
            )
        )

    def build(self, node: yaml.Node, path: JsonPath) -> Any:
        if len(path) > MAX_DEPTH:
            raise SpecError(
                [
                    Diagnostic(
                        self.display,
                        node.start_mark.line + 1,
                        node.start_mark.column + 1,
                        f"the document is nested more than {MAX_DEPTH} levels deep",
                        hint="a run spec is a few levels deep",
                    )
                ]
            )
        self.count += 1
        if self.count > MAX_NODES:
            raise SpecError(
                [
                    Diagnostic(
                        self.display,
                        node.start_mark.line + 1,
                        node.start_mark.column + 1,
                        f"document expands to more than {MAX_NODES} nodes",
                        _json_path(path),
                        "remove the repeated aliases (*name)",
                    )
                ]
            )
        self.marks[path] = Mark(node.start_mark.line + 1, node.start_mark.column + 1)
        if node.tag not in _CORE_TAGS and node.tag != _PLAIN:
            self.error(
                node, f"YAML tag {node.tag!r} is not allowed", path, "remove the tag; specs use plain YAML values"
            )
            return None
        if isinstance(node, yaml.MappingNode):
            return self.build_mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, path + (i,)) for i, item in enumerate(node.value)]
        assert isinstance(node, yaml.ScalarNode)
        return self.build_scalar(node, path)

    def build_mapping(self, node: yaml.MappingNode, path: JsonPath) -> dict:
        result: dict = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                self.error(key_node, "mapping keys must be plain words", path)
                continue
            key = key_node.value
            if key == "<<" and key_node.tag == _PLAIN:
                self.error(key_node, "merge keys (<<) are not supported", path, "write the keys out")
                continue
            if key in result:
                first = self.key_marks[path + (key,)]
                self.error(
                    key_node, f"duplicate key {key!r} (first at line {first.line})", path + (key,), "keep one of them"
                )
                continue
            self.key_marks[path + (key,)] = Mark(key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            result[key] = self.build(value_node, path + (key,))
        return result

    def build_scalar(self, node: yaml.ScalarNode, path: JsonPath) -> Any:
        value = node.value
        control = CONTROL.search(value)
        if control:
            # No spec value needs one, and in a terminal, a log or a PR comment an escape sequence
            # acts (colours, hidden text, OSC-8 links): refused where it is written.
            self.error(
                node,
                f"control character {visible(control.group(0))} in a value",
                path,
                "remove it (tabs and newlines are fine)",
            )
            return ""
        if "${" in value and self.env_paths is not None and path not in self.env_paths:
            named = [m.group(2) for m in _ENV.finditer(value) if not m.group(1)]
            if named:
                self.error(
                    node,
                    f"${{env:{named[0]}}} is not allowed here: only the workspace's ids are read from the environment",
                    path,
                    "write the value in the spec (a variable's value would show in plans, names and comments)",
                )
                return value  # as written: the variable is never read
        if self.interpolate and "${" in value:
            # An interpolated value is text, whatever it looks like: a subscription id of
            # digits must not turn into a number.
            return self.substitute(node, value, path)
        try:
            return _resolve_plain(value) if node.tag == _PLAIN else _construct_tagged(node.tag, value)
        except ValueError:  # an integer of more digits than Python converts (4300 by default)
            self.error(node, f"number of {len(value)} digits is out of range", path, "write a realistic value")
            return None

    def substitute(self, node: yaml.ScalarNode, value: str, path: JsonPath) -> str:
        def replace(match: re.Match) -> str:
            if match.group(1):  # $${env:X} is the escape for a literal ${env:X}
                return match.group(0)[1:]
            name = match.group(2)
            if not _ENV_NAME.match(name):
                self.error(
                    node,
                    f"invalid environment variable name {name!r} in ${{env:...}}",
                    path,
                    "use letters, digits and _ only",
                )
                return ""
            if name not in self.env:
                self.error(
                    node,
                    f"environment variable {name} is not set",
                    path,
                    f"export {name}=..., or write the value in the spec",
                )
                return ""
            return self.env[name]

        return _ENV.sub(replace, value)


def _resolve_plain(value: str) -> Any:
    if _NULL.match(value):
        return None
    if _BOOL.match(value):
        return value[0] in "tT"
    if _INT10.match(value):
        return int(value)
    if _INT8.match(value):
        return int(value[2:], 8)
    if _INT16.match(value):
        return int(value[2:], 16)
    if _FLOAT.match(value):
        return float(value)
    if _INF.match(value):
        return -math.inf if value.startswith("-") else math.inf
    if _NAN.match(value):
        return math.nan
    return value


def _construct_tagged(tag: str, value: str) -> Any:
    if tag == _STR:
        return value
    resolved = _resolve_plain(value)
    return value if resolved is value else resolved


def _json_path(path: JsonPath) -> str:
    out = "$"
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


json_path = _json_path
