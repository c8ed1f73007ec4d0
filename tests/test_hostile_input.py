"""Inputs that used to end in a traceback end in one line, with nothing left behind (issue 22, 12)."""

from __future__ import annotations

import resource
import signal
import subprocess
import sys

import pytest
from click.testing import CliRunner

from orchestrator.cli import cli
from tests.conftest import ROOT, SPECS

QUICKSTART = (
    (SPECS / "quickstart-local.yaml")
    .read_text()
    .replace("./data/quickstart-chat", str(SPECS / "data" / "quickstart-chat"))
)


def _one_error_line(result) -> str:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    return next((line for line in result.output.splitlines() if "error" in line), result.output)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("a: " + "[" * 400 + "]" * 400 + "\n", "nested more than 64 levels deep"),
        ("a: " + "[" * 2000 + "]" * 2000 + "\n", "maximum nesting depth"),  # PyYAML's own limit
        ("a: {" + "b: {" * 600 + "}" * 601 + "\n", "nested more than 64 levels deep"),
        ("".join(" " * i + f"k{i}:\n" for i in range(700)) + " " * 700 + "v\n", "nested more than 64 levels deep"),
        (QUICKSTART.replace("epochs: 1", "epochs: " + "9" * 500_000), "number of 500000 digits is out of range"),
    ],
    ids=["lists", "deeper-than-yaml-reads", "mappings", "block-recursion", "huge-int"],
)
def test_a_pathological_spec_is_one_located_line(tmp_path, text, words):
    spec = tmp_path / "run.yaml"
    spec.write_text(text)
    for command in ("validate", "plan"):
        line = _one_error_line(
            CliRunner().invoke(cli, [command, str(spec), *(["--offline"] if command == "plan" else [])])
        )
        assert words in line


def test_a_state_file_that_is_not_a_state_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("ORCHESTRATE_STATE_DIR", str(tmp_path / "state"))
    (tmp_path / "state" / "quickstart").mkdir(parents=True)
    (tmp_path / "state" / "quickstart" / "state.json").write_text("[]")
    spec = tmp_path / "quickstart.yaml"
    spec.write_text(QUICKSTART)
    line = _one_error_line(CliRunner().invoke(cli, ["plan", str(spec)]))
    assert "state.json is corrupt (not a state object); move it away to start over" in line


def _limited(max_bytes: int):
    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # over the limit, write() fails with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))

    return limit


def test_a_full_disk_is_one_line_and_leaves_no_temp_file(tmp_path):
    """RLIMIT_FSIZE stands in for a full disk: every write past it fails, as ENOSPC would."""
    target = tmp_path / "out" / "state.json"
    code = (
        "import sys; from pathlib import Path; from orchestrator.state import atomic_write\n"
        "from orchestrator.errors import OrchestrateError\n"
        f"try:\n    atomic_write(Path({str(target)!r}), 'x' * 100_000)\n"
        "except OrchestrateError as exc:\n    print(exc); sys.exit(3)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, preexec_fn=_limited(4096)
    )
    assert proc.returncode == 3, proc.stderr
    assert proc.stdout.startswith(f"cannot write {target}: File too large")
    assert list((tmp_path / "out").iterdir()) == []  # no .state.json.<pid>.tmp left behind
    spec = tmp_path / "run.yaml"
    spec.write_text(QUICKSTART)
    proc = subprocess.run(
        [sys.executable, "-m", "orchestrator", "plan", str(spec), "--offline", "--out", str(tmp_path / "plan.json")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        preexec_fn=_limited(1024),
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("error: File too large"), proc.stderr
