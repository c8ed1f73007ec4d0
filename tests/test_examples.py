"""The shipped CI examples do what they say: their orchestrate commands run on a real repository."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import yaml

from tests.conftest import ROOT, SPECS


def _env(tmp_path):
    # `orchestrate` as installed next to this Python; no AZURE_SUBSCRIPTION_ID, as in a fork's CI.
    env = {k: v for k, v in os.environ.items() if k != "AZURE_SUBSCRIPTION_ID"}
    env["PATH"] = f"{os.path.dirname(sys.executable)}{os.pathsep}{env['PATH']}"
    return env


def _git(repo, *args):
    subprocess.run(
        ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args], cwd=repo, check=True, capture_output=True
    )


def test_github_workflow_commands_on_a_pull_request(tmp_path):
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "orchestrate-pr.yml").read_text())
    steps = {s.get("name"): s.get("run", "") for s in workflow["jobs"]["plan"]["steps"]}
    repo = tmp_path / "repo"
    shutil.copytree(SPECS, repo / "specs")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "base")
    _git(repo, "update-ref", "refs/remotes/origin/main", "HEAD")  # what checkout's fetch provides
    spec = repo / "specs" / "phi4-ultrachat.yaml"
    spec.write_text(spec.read_text().replace("epochs: 1", "epochs: 2"))
    _git(repo, "commit", "-qam", "two epochs")
    for name in ("Validate specs", "Diff against the base branch"):
        assert "${{" not in steps[name]  # values reach the script through env: only
        env = {**_env(tmp_path), "BASE": "main"}
        proc = subprocess.run(["bash", "-e", "-c", steps[name]], cwd=repo, env=env, capture_output=True, text=True)
        assert proc.returncode == 0, (name, proc.stdout, proc.stderr)
    comment = (repo / "orchestrate-diff.md").read_text()
    assert (
        "| `finetune.epochs` | `1` | `2` | `finetune`, `register`, `deployment`, `smoke_test`, `traffic` |" in comment
    )


def test_github_workflows_install_a_pinned_release_on_current_actions():
    from orchestrator import __version__

    workflows = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
    assert [w.name for w in workflows] == ["orchestrate-apply.yml", "orchestrate-drift.yml", "orchestrate-pr.yml"]
    for workflow in workflows:
        for job in yaml.safe_load(workflow.read_text())["jobs"].values():
            steps = job["steps"]
            for install in (s["run"] for s in steps if s.get("name") == "Install orchestrate"):
                # A team's spec repository installs a release, not this checkout; the pin follows each release.
                assert re.fullmatch(rf"pip install 'orchestrate-llm(\[azureml\])?=={re.escape(__version__)}'", install)
            assert all("${{" not in s.get("run", "") for s in steps), workflow.name  # env: only
        # Pinned by commit SHA, the release in a comment (yaml drops comments: read the text).
        pins = re.findall(r"uses: ([\w/-]+)@(\S+)(?:\s+#\s*(v[\d.]+))?", workflow.read_text())
        assert pins and all(re.fullmatch(r"[0-9a-f]{40}", sha) and tag for _, sha, tag in pins), pins
        for job in yaml.safe_load(workflow.read_text())["jobs"].values():
            assert job.get("timeout-minutes"), workflow.name
            uses = {action: tag.split(".")[0] for action, _, tag in pins}
            # node20 actions stopped running on GitHub's runners in 2026-09: the first node24 majors.
            node24 = {
                "actions/checkout": 6,
                "actions/setup-python": 6,
                "actions/upload-artifact": 6,
                "actions/download-artifact": 7,
                "azure/login": 3,
            }
            assert set(uses) <= set(node24), (workflow.name, uses)
            for action, version in uses.items():
                assert int(version.lstrip("v")) >= node24[action], (workflow.name, action)


def test_pre_commit_hook_entry_validates(tmp_path):
    [hook] = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert hook["id"] == "orchestrate-validate" and re.search(hook["files"], "specs/run.yaml")
    command = hook["entry"].split() + [str(SPECS / "phi4-ultrachat.yaml")]
    proc = subprocess.run(command, env=_env(tmp_path), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    broken = tmp_path / "bad.yaml"
    broken.write_text((SPECS / "phi4-ultrachat.yaml").read_text().replace("epochs: 1", "epochs: 0"))
    proc = subprocess.run(hook["entry"].split() + [str(broken)], env=_env(tmp_path), capture_output=True, text=True)
    assert proc.returncode == 1 and "finetune.epochs must be at least 1" in proc.stderr


def test_example_specs_carry_the_schema_modeline():
    for spec in SPECS.glob("*.yaml"):
        first = spec.read_text().splitlines()[0]
        assert first == "# yaml-language-server: $schema=../schemas/runspec.schema.json", spec
