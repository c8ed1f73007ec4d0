"""`orchestrate init`: a starter spec from templates/init-<target>.yaml.j2 that runs where it is written.

Beside the spec go what it needs and the package ships: the JSON Schema its modeline names (unless
the spec sits in a checkout that has one), and what the target's starter adds (the local target's
sample chat data).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.errors import OrchestrateError
from orchestrator.resources import SCHEMA_PATH, TEMPLATES_DIR

_RUN_NAME = re.compile(r"^[a-z][a-z0-9-]{1,22}[a-z0-9]$")
SCHEMA_FILE = "runspec.schema.json"


@dataclass
class Starter:
    """The spec text, and the files to write beside it (path -> writer)."""

    text: str
    extras: dict[Path, Callable[[Path], None]] = field(default_factory=dict)


def run_name_for(path: str | None) -> str:
    """A valid run name from a file name (`specs/My_Run.yaml` -> `my-run`), else `my-run`."""
    if not path:
        return "my-run"
    stem = re.sub(r"[^a-z0-9-]+", "-", Path(path).stem.lower()).strip("-")[:24].strip("-")
    return stem if _RUN_NAME.match(stem) else "my-run"


def templates() -> list[str]:
    """The targets with a starter: `init --template` choices."""
    from orchestrator import registry

    return [name for name in registry.names() if registry.info(name).starter is not None]


def starter(template: str, *, name: str | None = None, path: str | None = None) -> Starter:
    import jinja2

    from orchestrator import registry

    own = registry.info(template).starter
    if own is None:
        raise OrchestrateError(f"target {template} has no starter spec; use one of: {', '.join(templates())}")
    run = name or run_name_for(path)
    if not _RUN_NAME.match(run):
        raise OrchestrateError(
            f"run name {run!r} is not valid: 3-24 characters, lowercase letters, digits and '-', starting with a letter"
        )
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)), keep_trailing_newline=True, undefined=jinja2.StrictUndefined
    )
    folder = Path(path).parent if path else Path(".")
    schema_ref, extras = _schema_beside(folder) if path else (SCHEMA_FILE, {})
    for relative, writer in own.beside.items() if path else ():
        if not (folder / relative).exists():
            extras[folder / relative] = writer
    text = env.get_template(f"init-{template}.yaml.j2").render(
        name=run, path=path or f"specs/{run}.yaml", schema=schema_ref, **own.values
    )
    return Starter(text, extras)


def write(starter_: Starter, path: Path) -> list[Path]:
    """Write the spec and what goes beside it; return every path written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(starter_.text, encoding="utf-8")
    written = [path]
    for extra, writer in starter_.extras.items():
        writer(extra)
        written.append(extra)
    return written


def _schema_beside(folder: Path) -> tuple[str, dict[Path, Callable[[Path], None]]]:
    """The modeline's target: the checkout's schema when the spec sits in one (stays current with
    the code), else a copy of the installed schema written beside the spec."""
    resolved = folder.resolve()
    for parent in (resolved, *resolved.parents):
        candidate = parent / "schemas" / SCHEMA_FILE
        if candidate.is_file():
            return os.path.relpath(candidate, resolved), {}
    return SCHEMA_FILE, {folder / SCHEMA_FILE: _write_schema}


def _write_schema(path: Path) -> None:
    path.write_bytes(SCHEMA_PATH.read_bytes())
