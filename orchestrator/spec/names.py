"""Names derived from the run name when the spec does not give them."""

from __future__ import annotations

import hashlib
import re

_NAME_CHARS = re.compile(r"[^a-zA-Z0-9_-]+")


def derived_register_name(model_name: str, run_name: str) -> str:
    """<model>-<run>, with characters Azure does not allow in model names turned into '-'."""
    base = model_name.rstrip("/").rsplit("/", 1)[-1]
    return _NAME_CHARS.sub("-", f"{base}-{run_name}").strip("-_")[:255]


def derived_endpoint_name(run_name: str, workspace_id: str | None = None) -> str:
    """<run>-<6 hex of the workspace's id>: endpoint names are unique per Azure region, across
    subscriptions, so a bare `<run>-ep` collides with anyone's run of the same name. Without a
    workspace id (the local target, a config file): <run>-ep."""
    if not workspace_id:
        return f"{run_name}-ep"
    return f"{run_name}-{hashlib.sha256(workspace_id.lower().encode()).hexdigest()[:6]}"
