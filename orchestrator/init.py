"""`orchestrate init`: a starter spec rendered from templates/init-<target>.yaml.j2."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from orchestrator.errors import OrchestrateError
from orchestrator.resources import SCHEMA_PATH, TEMPLATES_DIR

_RUN_NAME = re.compile(r"^[a-z][a-z0-9-]{1,22}[a-z0-9]$")
_DEFAULTS = {
    "azureml": {"model": "Phi-3-mini-4k-instruct", "dataset": "HuggingFaceH4/ultrachat_200k"},
    "local": {"model": "SmolLM2-135M-Instruct", "dataset": "./data/quickstart-chat"},
}


def run_name_for(path: str | None) -> str:
    """A valid run name from a file name (`specs/My_Run.yaml` -> `my-run`), else `my-run`."""
    if not path:
        return "my-run"
    stem = re.sub(r"[^a-z0-9-]+", "-", Path(path).stem.lower()).strip("-")[:24].strip("-")
    return stem if _RUN_NAME.match(stem) else "my-run"


def starter_spec(template: str, *, name: str | None = None, path: str | None = None) -> str:
    import jinja2

    run = name or run_name_for(path)
    if not _RUN_NAME.match(run):
        raise OrchestrateError(f"run name {run!r} is not valid: 3-24 characters, lowercase letters, digits and '-', "
                               "starting with a letter")
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)), keep_trailing_newline=True,
                             undefined=jinja2.StrictUndefined)
    return env.get_template(f"init-{template}.yaml.j2").render(
        name=run, path=path or f"specs/{run}.yaml", schema=schema_reference(path), **_DEFAULTS[template])


def schema_reference(path: str | None) -> str:
    """What the yaml-language-server modeline points at: the repo's schema file when the spec sits
    in a checkout that has one (works offline), else the schema's published $id."""
    if path:
        folder = Path(path).resolve().parent
        for parent in (folder, *folder.parents):
            candidate = parent / "schemas" / "runspec.schema.json"
            if candidate.is_file():
                return os.path.relpath(candidate, folder)
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))["$id"]
