from __future__ import annotations

import json

from click.testing import CliRunner

from orchestrator.cli import cli
from tests.conftest import STAGE_ORDER


def run(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_saved_plan_applies_exactly_and_refuses_when_stale(local_run, tmp_path):
    saved = tmp_path / "plan.json"
    result = run("plan", str(local_run), "--out", str(saved), "--detailed-exitcode")
    assert result.exit_code == 2, result.output
    assert json.loads(saved.read_text())["observed"] is True  # the local target was read

    text = local_run.read_text()
    local_run.write_text(text.replace("learning_rate: 2.0e-4", "learning_rate: 1.0e-4"))
    stale = run("apply", str(saved))
    assert stale.exit_code == 1 and "changed since the plan was saved" in stale.output
    local_run.write_text(text)

    applied = run("apply", str(saved), "-o", "json")  # a saved plan is applied without asking
    assert applied.exit_code == 0, applied.output
    events = [json.loads(line) for line in applied.stdout.splitlines()]  # NDJSON, every line
    assert events[0]["event"] == "plan"
    finished = [e["stage"] for e in events if e["event"] == "finished"]
    assert finished == STAGE_ORDER
    assert any(e["event"] == "progress" and e["stage"] == "finetune" and "loss" in e for e in events)
    again = run("apply", str(saved))
    assert again.exit_code == 1 and "state changed since the plan was saved" in again.output
    assert run("plan", str(local_run), "--detailed-exitcode").exit_code == 0  # nothing left to do
    assert run("destroy", str(local_run), "-y").exit_code == 0


def test_files_that_are_not_saved_plans(tmp_path):
    bad = tmp_path / "x.json"
    for content, fragment in (
        ("{not json", "not JSON"),
        ('{"format_version": 99, "stages": []}', "format_version 1"),
        ('{"format_version": 1, "stages": [], "mode": "destroy"}', "destroy plan"),
    ):
        bad.write_text(content)
        result = run("apply", str(bad))
        assert result.exit_code == 1 and fragment in result.output, result.output
    assert "file not found" in run("apply", str(tmp_path / "missing.json")).output
