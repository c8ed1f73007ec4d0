"""Errors as values: a diagnostic has a place, a message and a fix, until the CLI prints it."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Diagnostic:
    """One problem found in a spec, located at file:line:col and at a JSON path."""

    file: str
    line: int
    col: int
    message: str
    json_path: str = "$"
    hint: str = ""
    severity: str = "error"  # error | warning

    def format(self) -> str:
        where = f" at {self.json_path}" if self.json_path and self.json_path != "$" else ""
        fix = f" ({self.hint})" if self.hint else ""
        return f"{self.file}:{self.line}:{self.col}: {self.severity}: {self.message}{where}{fix}"

    def format_github(self) -> str:
        """A GitHub workflow command; the file name and the text escaped as GitHub documents, so
        neither can end the command and forge one of their own."""
        from orchestrator.escape import annotation_message, annotation_property

        text = f"{self.message}" + (f" at {self.json_path}" if self.json_path != "$" else "")
        if self.hint:
            text += f" ({self.hint})"
        where = f"file={annotation_property(self.file)},line={self.line},col={self.col}"
        return f"::{self.severity} {where}::{annotation_message(text)}"

    def to_dict(self) -> dict:
        return asdict(self)


class OrchestrateError(Exception):
    """A user-facing failure: the CLI prints it in one line (or a few) and exits 1, no traceback."""

    exit_code = 1


class SpecError(OrchestrateError):
    """A spec that cannot be used; carries every diagnostic found, not only the first."""

    def __init__(self, diagnostics: list[Diagnostic]):
        self.diagnostics = diagnostics
        super().__init__("\n".join(d.format() for d in diagnostics))

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]
