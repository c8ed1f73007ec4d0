"""Hostile text from specs and file names cannot act in a terminal, a log or a CI annotation."""

from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner

from orchestrator.cli import cli
from orchestrator.errors import Diagnostic
from orchestrator.escape import annotation_property, visible
from tests.conftest import ROOT, SPECS


def test_an_annotation_cannot_be_ended_by_its_file_name_or_its_message():
    forged = Diagnostic("specs/a\n::error file=x::forged,line=1:2.yaml", 3, 4, "bad\r\n::warning::also forged %")
    line = forged.format_github()
    assert "\n" not in line and "\r" not in line
    assert line == (
        "::error file=specs/a%0A%3A%3Aerror file=x%3A%3Aforged%2Cline=1%3A2.yaml,line=3,col=4::"
        "bad%0D%0A::warning::also forged %25"
    )
    assert annotation_property("a,b:c%") == "a%2Cb%3Ac%25"


def test_visible_shows_every_control_character_as_its_escape():
    assert visible("Phi\x1b[8m\x1b]8;;https://evil/\x07x\n") == "Phi\\x1b[8m\\x1b]8;;https://evil/\\x07x\\n"
    assert visible("prod-é.yaml") == "prod-é.yaml"  # text is not a control character


def test_a_spec_file_name_with_a_newline_forges_no_annotation(tmp_path):
    path = tmp_path / "a\n::error file=README.md::forged.yaml"
    path.write_text((SPECS / "quickstart-local.yaml").read_text().replace("epochs: 1", "epochs: 0"))
    result = CliRunner().invoke(cli, ["validate", str(tmp_path), "--format", "github"])
    assert result.exit_code == 1
    assert not [line for line in result.output.splitlines() if line.startswith("::error file=README.md")]
    assert "has control characters: rename the file" in result.output and "\\n::error" in result.output


@pytest.mark.parametrize(
    "hostile",
    ["Phi-4\\e[8m", "Phi-4\\e]8;;https://example.invalid/\\aclick\\e]8;;\\a", "Phi-4\\x9b31m"],
    ids=["ansi-conceal", "osc-8-link", "c1-csi"],
)
def test_escape_sequences_in_spec_values_are_refused_where_they_are_written(tmp_path, hostile):
    text = (SPECS / "phi4-ultrachat.yaml").read_text().replace("${env:AZURE_SUBSCRIPTION_ID}", "sub")
    spec = tmp_path / "run.yaml"
    spec.write_text(text.replace("  name: Phi-4 ", f'  name: "{hostile}" '))
    proc = subprocess.run(
        [sys.executable, "-m", "orchestrator", "plan", str(spec), "--offline"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1
    out = proc.stdout + proc.stderr
    assert "control character \\x1b in a value at $.model.name" in out or "control character \\x9b" in out
    assert "\x1b" not in out and "\x9b" not in out and "\x07" not in out  # nothing reaches the terminal raw
