"""The local target's blue/green update: a learning-rate change rolls out behind the same scoring
URI while a client keeps calling `orchestrate invoke`; then destroy leaves no process."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

from click.testing import CliRunner

from orchestrator.cli import cli
from orchestrator.state import RunState
from orchestrator.targets.local.endpoint import alive
from tests.conftest import ROOT


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


class InvokeLoop:
    """`orchestrate invoke` in a loop, each call its own process, as a user's script would."""

    def __init__(self, spec):
        self.spec, self.codes, self.stop = spec, [], threading.Event()
        self.errors: list[str] = []
        self.thread = threading.Thread(target=self.loop, daemon=True)

    def loop(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        command = [sys.executable, "-m", "orchestrator", "invoke", str(self.spec), "-m", "Hi!", "--max-new-tokens", "4"]
        while not self.stop.is_set():
            proc = subprocess.run(command, env=env, capture_output=True, text=True, cwd=self.spec.parent)
            self.codes.append(proc.returncode)
            if proc.returncode:
                self.errors.append(proc.stderr[-500:])

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=120)


def test_an_update_rolls_out_behind_the_same_uri_while_a_client_calls_it(local_run, tmp_path):
    assert run("apply", local_run, "-y").exit_code == 0
    state = RunState(tmp_path / ".orchestrate", "quickstart")
    before = state.stages()
    uri, old = before["endpoint"]["scoring_uri"], before["deployment"]["deployment"]
    old_pid = before["deployment"]["pid"]
    local_run.write_text(local_run.read_text().replace("learning_rate: 2.0e-4", "learning_rate: 1.0e-4"))
    with InvokeLoop(local_run) as client:
        result = run("apply", local_run, "-y")
    assert result.exit_code == 0, result.output
    assert len(client.codes) >= 3 and client.codes == [0] * len(client.codes), client.errors
    after = state.stages()
    new = after["deployment"]["deployment"]
    assert new != old and after["endpoint"]["scoring_uri"] == uri
    assert after["traffic"]["previous"] == old and f"deleted {old}" in after["traffic"]["detail"]
    assert after["smoke_test"]["scores"]["serving_deployment"] == old  # compared with what served
    assert not alive(old_pid)
    assert run("plan", local_run, "--detailed-exitcode").exit_code == 0
    status = run("status", local_run)
    assert f"{new}" in status.output and "100%" in status.output
    pids = [after["endpoint"]["pid"], after["deployment"]["pid"]]
    assert run("destroy", local_run, "-y").exit_code == 0
    assert not any(alive(pid) for pid in pids)
