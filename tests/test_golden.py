"""The human output, pinned: plan, diff markdown, status and render as a person reads them.

Each is compared byte for byte with its file under tests/golden/; `pytest --update-golden`
writes them again from what the code prints now, and the change is reviewed as their diff.
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from orchestrator.cli import cli
from tests.conftest import ROOT, SPECS


def _out(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


@pytest.fixture
def at_root(monkeypatch):
    monkeypatch.chdir(ROOT)  # the paths in the output are the ones given: specs/...
    monkeypatch.setenv("NO_COLOR", "1")


def test_plan_text(at_root, golden):
    golden("plan.txt", _out("plan", "specs/phi4-ultrachat.yaml", "--offline"))


def test_plan_text_of_several_specs(at_root, golden):
    golden("plan-many.txt", _out("plan", "specs/", "--offline"))


def test_diff_markdown(tmp_path, monkeypatch, golden):
    monkeypatch.chdir(tmp_path)
    reference = (SPECS / "phi4-ultrachat.yaml").read_text()
    (tmp_path / "old.yaml").write_text(reference)
    changed = reference.replace("precision: fp16", "precision: bf16").replace("instance_count: 1", "instance_count: 2")
    (tmp_path / "new.yaml").write_text(changed)
    golden("diff.md", _out("diff", "old.yaml", "new.yaml", "--format", "markdown"))


def test_status_text(third, golden):
    _out("apply", "third.yaml", "-y")
    golden("status.txt", _out("status", "third.yaml"))


def test_render(at_root, tmp_path, golden):
    pytest.importorskip("azure.ai.ml")
    written = _out("render", "specs/phi4-ultrachat.yaml", "--out", str(tmp_path)).split()
    assert [p.rsplit("/", 1)[-1] for p in written] == [
        "pipeline-job.yaml",
        "model.yaml",
        "endpoint.yaml",
        "deployment.yaml",
    ]
    for path in written:
        name = path.rsplit("/", 1)[-1]
        golden(f"render/{name}", (tmp_path / name).read_text())
