"""A missing optional dependency is one line naming the extra to install, never a traceback."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT, SPECS

# Runs the CLI with some top-level modules made unimportable, as in a venv without that extra.
_BLOCKED_CLI = """
import sys
blocked = set(sys.argv[1].split(","))
class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in blocked:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Blocker())
sys.argv = ["orchestrate", *sys.argv[2:]]
from orchestrator.cli import main
main()
"""


def _run(blocked: str, *args: str, cwd):
    """In `cwd` (a test's tmp folder), with the run state there too: nothing is written in the checkout."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ORCHESTRATE_STATE_DIR": str(cwd / ".state")}
    env.pop("ORCHESTRATE_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-c", _BLOCKED_CLI, blocked, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
    )


@pytest.mark.parametrize(
    "blocked, args, extra",
    [
        ("azure", ("render", "{specs}/phi4-ultrachat.yaml", "--out", "{tmp}/r"), "[azureml]"),
        ("azure", ("plan", "{specs}/phi4-ultrachat.yaml"), "[azureml]"),
        ("torch,transformers,peft,mlflow", ("apply", "{tmp}/q.yaml", "-y"), "[local]"),
    ],
)
def test_missing_extra_is_one_line_naming_it(tmp_path, blocked, args, extra):
    spec = (
        (SPECS / "quickstart-local.yaml")
        .read_text()
        .replace("./data/quickstart-chat", str(SPECS / "data" / "quickstart-chat"))
    )
    (tmp_path / "q.yaml").write_text(spec)
    proc = _run(
        blocked, *(a.replace("{tmp}", str(tmp_path)).replace("{specs}", str(SPECS)) for a in args), cwd=tmp_path
    )
    if args[0] == "apply":  # no endpoint (a router process) is started beside a fine-tune that cannot run
        state = tmp_path / ".state" / "quickstart" / "state.json"
        started = state.exists() and "endpoint" in json.loads(state.read_text())["stages"]
        if started:
            _run("", "destroy", str(tmp_path / "q.yaml"), "-y", cwd=tmp_path)
        assert not started
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and f"pip install 'orchestrate-llm{extra}'" in errors[0], proc.stderr


def test_a_hub_dataset_without_datasets_names_the_targets_extra(tmp_path):
    spec = (
        (SPECS / "quickstart-local.yaml").read_text().replace("./data/quickstart-chat", "HuggingFaceH4/ultrachat_200k")
    )
    (tmp_path / "q.yaml").write_text(spec)
    proc = _run("datasets", "apply", str(tmp_path / "q.yaml"), "-y", cwd=tmp_path)
    _run("", "destroy", str(tmp_path / "q.yaml"), "-y", cwd=tmp_path)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "needs the Python package datasets" in proc.stderr and "'orchestrate-llm[local]'" in proc.stderr
    assert "[azureml]" not in proc.stderr  # the spec's target decides which extra to name


def test_core_dependencies_are_bounded_both_ways():
    """The core install must mean the same next month: a lower bound past known flaws, an upper
    bound before the next major (issue 22, item 13)."""
    import tomllib  # 3.11+: tests run on 3.11

    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert deps and all(re.search(r">=[\d.]+,<\d+", d) for d in deps), deps
