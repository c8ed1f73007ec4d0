"""A third target (tests/third_target) joins by one registry line: validate, plan, apply, an
update, status and destroy run through the command line with no other change to the core."""

from __future__ import annotations

import json

from click.testing import CliRunner

from orchestrator import registry
from orchestrator.cli import cli
from orchestrator.targets.local.sample_data import write_dataset
from tests.conftest import THIRD_SPEC


def _run(*args: str, code: int = 0):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result


def _store(tmp_path) -> dict:
    return json.loads((tmp_path / "state" / "third-run" / "resources.json").read_text())


def test_a_third_target_validates_plans_applies_updates_and_destroys(third, tmp_path):
    assert "valid" in _run("validate", str(third)).output
    assert "third" in registry.names()
    # The core's schema takes the target's (empty) fragment: no workspace is asked for.
    planned = json.loads(_run("plan", str(third), "-o", "json").output)
    assert planned["target"] == "third" and planned["summary"]["create"] == 9, planned["summary"]

    _run("apply", str(third), "-y")
    first = _store(tmp_path)
    (serving,) = first["deployments"]
    assert first["endpoint"] and first["deployments"][serving]["traffic"] == 100
    assert first["deployments"][serving]["requests"] >= 1  # the core's smoke test reached its router
    _run("plan", str(third), "--detailed-exitcode")  # exit 0: nothing to change

    # An update: a new model is a new deployment beside the serving one, given its traffic by the
    # core's rollout; the previous one is retired.
    third.write_text(THIRD_SPEC.format(epochs=2), encoding="utf-8")
    _run("plan", str(third), "--detailed-exitcode", code=2)
    _run("apply", str(third), "-y")
    (updated,) = _store(tmp_path)["deployments"]
    assert updated != serving and _store(tmp_path)["deployments"][updated]["traffic"] == 100

    status = json.loads(_run("status", str(third), "-o", "json").output)
    assert status["target"] == "third"
    assert [(d["name"], d["traffic"]) for d in status["deployments"]] == [(updated, 100)]

    _run("destroy", str(third), "-y")
    gone = _store(tmp_path)
    assert not gone["endpoint"] and gone["deployments"] == {} and gone["made"] == {}


def test_a_spec_naming_an_unregistered_target_is_refused_at_its_line(tmp_path):
    write_dataset(tmp_path / "chat", train=40, test=20)
    spec = tmp_path / "third.yaml"
    spec.write_text(THIRD_SPEC.format(epochs=1), encoding="utf-8")
    result = CliRunner().invoke(cli, ["validate", str(spec)])
    assert result.exit_code == 1 and "third.yaml:3:" in result.output, result.output
