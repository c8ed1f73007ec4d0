"""Where the files shipped beside the code (schema, templates) live, installed or from a checkout."""

from __future__ import annotations

from pathlib import Path

# _bundled/ holds symlinks to the top-level schemas/ and templates/ folders, so one path serves
# an editable install, a checkout and a built wheel (setuptools copies through the links).
BUNDLED = Path(__file__).resolve().parent / "_bundled"
SCHEMA_PATH = BUNDLED / "schemas" / "runspec.schema.json"
TEMPLATES_DIR = BUNDLED / "templates"
