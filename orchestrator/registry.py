"""The targets, by name: the one module of the core that reaches a target's code.

A target is a package whose `__init__` is light (no SDK, no torch) and defines `TARGET`, a
`TargetInfo`: what the core needs to know of it before it runs anything (its schema fragment, its
spec rules, its credential choices, its moving references, its starter) and where its `Target`
class lives, imported only when a run needs it. Adding a target is its package and one line in
`TARGETS` (dstack's configurator registry, SkyPilot's backends).
"""

from __future__ import annotations

import contextlib
import importlib
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.errors import OrchestrateError

if TYPE_CHECKING:
    from orchestrator.errors import Diagnostic
    from orchestrator.spec.load import LoadedSpec
    from orchestrator.spec.model import RunSpec
    from orchestrator.target import Target

TARGETS: dict[str, str] = {
    "azureml": "orchestrator.targets.azureml",
    "local": "orchestrator.targets.local",
}
DEFAULT = "azureml"  # a spec that names no target (the schema's default)

Rule = Callable[[dict, "LoadedSpec"], list["Diagnostic"]]


@dataclass(frozen=True)
class Starter:
    """What `orchestrate init --template <target>` writes: templates/init-<target>.yaml.j2 rendered
    with `values`, and beside the spec the files `beside` writes (path relative to the spec's folder
    -> writer), unless they exist."""

    values: Mapping[str, str]
    beside: Mapping[str, Callable[[Path], None]] = field(default_factory=dict)


@dataclass(frozen=True)
class TargetInfo:
    """A target as the core knows it without running it."""

    name: str
    cls: str  # "module:Class" of its Target, imported only to run (plan, apply, status, ...)
    schema: str  # its JSON Schema fragment (a file of its package), applied when a spec names it
    rules: str = ""  # "module:NAME" of its semantic checks (validate), beside the core's; imported then
    credentials: Sequence[str] = ()  # its `--credential` choices
    model_registry: str | None = None  # where a model name resolves when the spec names no registry
    refs: Callable[[RunSpec], dict[str, str]] | None = None  # its moving references (lockfile.py)
    render: Callable[[RunSpec, Path], list[Path]] | None = None  # its deployable files (`render`)
    sharing: Callable[[], contextlib.AbstractContextManager[Any]] | None = None  # clients shared by reads
    starter: Starter | None = None  # `orchestrate init`

    def fragment(self) -> dict:
        module = importlib.import_module(TARGETS[self.name])
        return json.loads((Path(str(module.__file__)).parent / self.schema).read_text(encoding="utf-8"))

    def spec_rules(self) -> Sequence[Rule]:
        return _named(self.rules) if self.rules else ()

    def make(self, spec: RunSpec, credential: str | None = None) -> Target:
        return _named(self.cls)(spec, credential=credential)


def _named(path: str) -> Any:
    """What "module:NAME" names, its module imported now (the CLI's start-up imports no target's code)."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def names() -> list[str]:
    return list(TARGETS)


def info(name: str) -> TargetInfo:
    """The target named `name` (validate has checked it is one)."""
    if name not in TARGETS:
        raise OrchestrateError(f"unknown target {name!r}; this orchestrate knows {', '.join(TARGETS)}")
    return importlib.import_module(TARGETS[name]).TARGET


def target(spec: RunSpec, credential: str | None = None) -> Target:
    """The target object for a spec; only the chosen target's module (and SDK) is imported."""
    return info(spec.target).make(spec, credential)


def credentials() -> list[str]:
    """Every target's `--credential` choices, in order, once each."""
    return list(dict.fromkeys(c for name in TARGETS for c in info(name).credentials))


@contextlib.contextmanager
def sharing() -> Iterator[None]:
    """Every target's shared clients, for reads of many runs at once."""
    with contextlib.ExitStack() as stack:
        for name in TARGETS:
            share = info(name).sharing
            if share is not None:
                stack.enter_context(share())
        yield
