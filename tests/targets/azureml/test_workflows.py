"""The apply-on-merge and drift workflows do what they say: their shell steps run, in a real git
repository, against the Azure ML emulator (azure/login is replaced by the fake `az` on PATH)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import yaml

from tests.conftest import ROOT
from tests.targets.azureml.conftest import SUBSCRIPTION, write_azure_spec
from tests.test_examples import _git

WORKFLOWS = ROOT / ".github" / "workflows"


def _steps(workflow: str, job: str) -> dict[str, dict]:
    data = yaml.safe_load((WORKFLOWS / workflow).read_text())
    return {s["name"]: s for s in data["jobs"][job]["steps"] if "run" in s and "name" in s}


def _run(step: dict | str, repo, **values: str) -> subprocess.CompletedProcess:
    """A workflow step run as GitHub runs it (bash -eo pipefail), its env: expressions filled in;
    its script holds none (values reach it through env: only)."""
    command, step_env = (step, {}) if isinstance(step, str) else (step["run"], step.get("env", {}))
    assert "${{" not in command, command
    env = {**os.environ, "AZURE_SUBSCRIPTION_ID": SUBSCRIPTION, "GITHUB_OUTPUT": str(repo / "out.txt")}
    for name, value in step_env.items():
        for expression, filled in values.items():
            value = value.replace("${{ " + expression + " }}", filled)
        if "${{" not in value:  # vars.* and secrets: the test's own environment stands in
            env[name] = value
    env["GITHUB_STEP_SUMMARY"] = str(repo / "summary.md")
    env["PATH"] = f"{os.path.dirname(sys.executable)}{os.pathsep}{env['PATH']}"
    return subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", command], cwd=repo, env=env, capture_output=True, text=True
    )


def _list_changed(repo, before: str, sha: str) -> subprocess.CompletedProcess:
    """The apply workflow's first job on the push from `before` to `sha`: only run-a is listed."""
    listed = _run(
        _steps("orchestrate-apply.yml", "changed")["List changed specs"],
        repo,
        **{"github.event.before": before, "github.sha": sha},
    )
    assert listed.returncode == 0, listed.stderr
    assert (repo / "out.txt").read_text().strip() == 'runs=["run-a"]'
    return listed


def _repo(tmp_path):
    """A spec repository: specs/run-a.yaml (subscription from the environment, as committed)."""
    repo = tmp_path / "repo"
    (repo / "specs").mkdir(parents=True)
    text = write_azure_spec(tmp_path).read_text().replace(SUBSCRIPTION, "${env:AZURE_SUBSCRIPTION_ID}")
    (repo / "specs" / "run-a.yaml").write_text(text.replace("name: phi4-ultrachat\n", "name: run-a\n"))
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "base")
    return repo


def test_apply_on_merge_plans_then_applies_the_saved_plan(emulator, tmp_path, monkeypatch):
    repo = _repo(tmp_path)
    before = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()
    steps = _steps("orchestrate-apply.yml", "plan")
    # Without a committed lock, --locked refuses: what runs is what the pull request committed.
    proc = _run(steps["Plan"], repo, **{"matrix.run": "run-a"})
    assert proc.returncode == 1 and "specs/run-a.lock is missing (--locked)" in proc.stderr, proc.stderr
    # The pull request: a lock file (written by the developer with `orchestrate lock`) and a change.
    proc = _run("orchestrate lock specs/run-a.yaml --credential cli", repo)
    assert proc.returncode == 0, proc.stderr
    spec = repo / "specs" / "run-a.yaml"
    spec.write_text(spec.read_text().replace("epochs: 1", "epochs: 2"))
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "two epochs, locked")
    sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()

    _list_changed(repo, before, sha)

    proc = _run(steps["Plan"], repo, **{"matrix.run": "run-a"})
    assert proc.returncode == 0, proc.stderr
    assert "Plan: 9 to create" in (repo / "summary.md").read_text()
    assert json.loads((repo / "plan.json").read_text())["run"] == "run-a"
    proc = _run(_steps("orchestrate-apply.yml", "apply")["Apply the saved plan"], repo)
    assert proc.returncode == 0, proc.stderr
    assert "Apply complete: 9 to create" in proc.stderr
    assert len(emulator.resources("onlineendpoints")) == 1

    # The report goes to the pull request the merge came from (a fake `gh` stands in for GitHub's).
    bin_dir = tmp_path / "gh-bin"
    bin_dir.mkdir()
    (bin_dir / "gh").write_text(
        "#!/bin/sh\n"
        'echo "$@" >> "$GH_CALLS"\n'
        'if [ "$1" = api ]; then echo 42; fi\n'
        'if [ "$1" = pr ]; then cp "$7" "$GH_CALLS.body"; fi\n'
    )
    (bin_dir / "gh").chmod(0o755)
    calls = tmp_path / "gh-calls"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("GH_CALLS", str(calls))
    step = _steps("orchestrate-apply.yml", "apply")["Post the report on the merged pull request"]
    proc = _run(step, repo, **{"matrix.run": "run-a", "github.sha": sha, "github.repository": "team/specs"})
    assert proc.returncode == 0, proc.stderr
    assert calls.read_text().splitlines() == [
        f"api repos/team/specs/commits/{sha}/pulls --jq .[0].number // empty",
        "pr comment 42 --repo team/specs --body-file report.md",
    ]
    body = (tmp_path / "gh-calls.body").read_text()
    assert body.startswith("### orchestrate report: `run-a` (target `azureml`)")
    assert "| eval_loss | 1.432 |" in body and "**Gate:** chrf of `demo-" in body


def test_drift_check_fails_on_a_portal_edit_and_on_a_newer_version(emulator, tmp_path):
    repo = _repo(tmp_path)
    assert _run("orchestrate lock specs/ --credential cli && orchestrate apply specs/ -y", repo).returncode == 0
    steps = _steps("orchestrate-drift.yml", "drift")
    for name in ("Plan every spec", "Check the lock files"):
        proc = _run(steps[name], repo)
        assert proc.returncode == 0, (name, proc.stdout, proc.stderr)

    emulator.publish_version("models", "Phi-4", "9")
    proc = _run(steps["Check the lock files"], repo)
    assert proc.returncode == 2 and "model Phi-4: 8 -> 9" in proc.stdout, proc.stdout
    assert _run(steps["Plan every spec"], repo).returncode == 0  # locked at 8: Azure still matches

    # Someone scales the deployment in the portal.
    (deployment,) = emulator.resources("deployments").values()
    deployment["sku"]["capacity"] = 3
    proc = _run(steps["Plan every spec"], repo)
    assert proc.returncode == 2, proc.stdout
    assert re.search(r"deployment .*instance_count is 3 on Azure, 1 in the spec", proc.stdout), proc.stdout


def test_hostile_spec_names_run_no_code_in_the_apply_workflow(emulator, tmp_path):
    """File names come from the pull request: a name like specs/a$(touch x).yaml must not run, in
    the job that lists them nor in the jobs that hold the Azure identity (issue 22, item 1)."""
    repo = _repo(tmp_path)
    before = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()
    hostile = ["a$(touch pwned-1).yaml", "b`touch pwned-2`.yaml", 'c";touch pwned-3;".yaml', "d\nx.yaml"]
    for name in hostile:
        (repo / "specs" / name.replace("\\n", "\n")).write_text("version: 1\n")
    spec = repo / "specs" / "run-a.yaml"
    spec.write_text(spec.read_text().replace("epochs: 1", "epochs: 2"))
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "hostile names")
    sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()
    listed = _list_changed(repo, before, sha)  # the others are not run names
    assert "4 changed spec name(s) are not run names" in listed.stdout
    plan = _steps("orchestrate-apply.yml", "plan")["Plan"]
    for name in hostile:  # even if a matrix value were one of them
        proc = _run(plan, repo, **{"matrix.run": name.removesuffix(".yaml")})
        assert proc.returncode == 1 and "::error::not a run name" in proc.stdout, proc.stdout
    assert not list(repo.glob("pwned-*")) and not list(tmp_path.glob("pwned-*"))
