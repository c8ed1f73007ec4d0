"""Names derived from the run name when the spec does not give them."""

from __future__ import annotations

import re

_NAME_CHARS = re.compile(r"[^a-zA-Z0-9_-]+")


def derived_register_name(model_name: str, run_name: str) -> str:
    """<model>-<run>, with characters Azure does not allow in model names turned into '-'."""
    base = model_name.rstrip("/").rsplit("/", 1)[-1]
    return _NAME_CHARS.sub("-", f"{base}-{run_name}").strip("-_")[:255]


def derived_endpoint_name(run_name: str) -> str:
    return f"{run_name}-ep"
