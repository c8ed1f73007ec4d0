"""The executor with a fake target: order, skips, what runs alongside, failures, Ctrl-C, destroy.

Neither torch nor azure is imported (checked in a fresh interpreter below)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading

import pytest

from orchestrator.apply import Interrupted, execute
from orchestrator.errors import OrchestrateError
from orchestrator.events import Events
from orchestrator.plan import make_destroy_plan, make_plan
from orchestrator.spec.validate import load_runspec
from tests.conftest import ROOT, SPECS
from tests.fake_target import FakeTarget, fail

SPEC = SPECS / "phi4-ultrachat.yaml"


@pytest.fixture
def spec():
    return load_runspec(SPEC)


def _events() -> tuple[Events, io.StringIO]:
    out = io.StringIO()
    events = Events("json")
    events.out = out
    return events, out


def _kinds(out: io.StringIO) -> list[tuple[str, str]]:
    return [(e["event"], e["stage"]) for e in map(json.loads, out.getvalue().splitlines())]


def test_stages_run_in_plan_order_and_are_recorded(spec, tmp_path):
    target = FakeTarget(spec, tmp_path)
    events, out = _events()
    records = execute(target, make_plan(spec, target.observe()), events)
    names = [s.name for s in make_plan(spec).stages]
    assert sorted(target.calls) == sorted(f"apply {n}" for n in names)
    # Only the endpoint may run out of turn (alongside the fine-tune); the rest keep plan order.
    in_order = [c for c in target.calls if c != "apply endpoint"]
    assert in_order == [f"apply {n}" for n in names if n != "endpoint"]
    assert set(records) == set(names) and set(target.state.stages()) == set(names)
    assert ("finished", "smoke_test") in _kinds(out)


def test_an_unchanged_plan_runs_nothing(spec, tmp_path):
    target = FakeTarget(spec, tmp_path)
    execute(target, make_plan(spec, target.observe()), _events()[0])
    target.calls.clear()
    events, out = _events()
    plan = make_plan(spec, target.observe())
    assert not plan.has_changes
    assert execute(target, plan, events) == {}
    assert target.calls == [] and {k for k, _ in _kinds(out)} == {"skipped"}


def test_the_endpoint_runs_alongside_the_finetune(spec, tmp_path):
    """The endpoint starts when the fine-tune says ready(), while the fine-tune still runs."""
    endpoint_done = threading.Event()

    def finetune(t, ready):
        ready()
        assert endpoint_done.wait(10), "the endpoint did not run while the fine-tune held"

    def endpoint(t, ready):
        endpoint_done.set()

    target = FakeTarget(spec, tmp_path, {"finetune": finetune, "endpoint": endpoint})
    events, out = _events()
    execute(target, make_plan(spec, target.observe()), events)
    assert target.calls.index("apply endpoint") < target.calls.index("apply register")
    kinds = _kinds(out)
    assert kinds.index(("progress", "endpoint")) < kinds.index(("finished", "finetune"))


def test_what_runs_alongside_is_settled_after_a_failure(spec, tmp_path):
    release = threading.Event()

    def finetune(t, ready):
        ready()
        release.set()
        raise OrchestrateError("job failed")

    def endpoint(t, ready):
        assert release.wait(10)

    target = FakeTarget(spec, tmp_path, {"finetune": finetune, "endpoint": endpoint})
    events, out = _events()
    with pytest.raises(OrchestrateError, match="job failed"):
        execute(target, make_plan(spec, target.observe()), events)
    assert "endpoint" in target.state.stages()  # it exists, so the state knows it
    assert ("finished", "endpoint") in _kinds(out) and ("error", "finetune") in _kinds(out)
    events_out = [json.loads(line) for line in out.getvalue().splitlines()]
    settled = next(e for e in events_out if e["event"] == "finished" and e["stage"] == "endpoint")
    assert settled["seconds"] >= 0  # timed from its own start
    assert "apply register" not in target.calls  # nothing after the failed stage


def test_a_failure_stops_the_run_and_the_next_apply_resumes(spec, tmp_path):
    target = FakeTarget(spec, tmp_path, {"register": fail("no model")})
    with pytest.raises(OrchestrateError, match="no model"):
        execute(target, make_plan(spec, target.observe()), _events()[0])
    again = FakeTarget(spec, tmp_path)
    plan = make_plan(spec, again.observe())
    assert [s.name for s in plan.stages if s.action != "skip"] == ["register", "deployment", "smoke_test", "traffic"]
    execute(again, plan, _events()[0])
    assert again.calls == ["apply register", "apply deployment", "apply smoke_test", "apply traffic"]


def test_ctrl_c_names_what_keeps_running_and_exits_130(spec, tmp_path):
    hold = threading.Event()

    def finetune(t, ready):
        ready()
        raise KeyboardInterrupt

    target = FakeTarget(spec, tmp_path, {"finetune": finetune, "endpoint": lambda t, ready: hold.wait(10)})
    with pytest.raises(Interrupted) as caught:
        execute(target, make_plan(spec, target.observe()), _events()[0])
    hold.set()
    assert caught.value.exit_code == 130
    assert str(caught.value) == (
        "interrupted during finetune; endpoint goes on; finished stages are recorded and "
        "`orchestrate apply` resumes from there"
    )


def test_destroy_mode_deletes_last_stage_first(spec, tmp_path):
    target = FakeTarget(spec, tmp_path)
    execute(target, make_plan(spec, target.observe()), _events()[0])
    target.calls.clear()
    execute(target, make_destroy_plan(spec, target.observe(), keep=("data",)), _events()[0])
    names = [s.name for s in make_plan(spec).stages if s.name != "data"]
    assert target.calls == [f"destroy {n}" for n in reversed(names)]
    assert set(target.state.stages()) == {"data"}


def test_the_executor_imports_neither_torch_nor_azure(tmp_path):
    """A fresh interpreter runs a whole apply and a destroy on the fake target, then lists what it imported."""
    code = f"""
import sys
from pathlib import Path
from orchestrator.apply import execute
from orchestrator.events import Events
from orchestrator.plan import make_destroy_plan, make_plan
from orchestrator.spec.validate import load_runspec
from tests.fake_target import FakeTarget
spec = load_runspec({str(SPEC)!r})
target = FakeTarget(spec, Path({str(tmp_path)!r}))
execute(target, make_plan(spec, target.observe()), Events("text", stream=open("/dev/null", "w")))
execute(target, make_destroy_plan(spec, target.observe()), Events("text", stream=open("/dev/null", "w")))
print(len(target.calls), sorted({{m.split(".")[0] for m in sys.modules}} & {{"torch", "azure", "transformers"}}))
"""
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["18", "[]"]  # 9 stages applied, 9 destroyed; nothing heavy imported


def test_the_sdks_prints_are_muted_in_its_modules_not_by_swapping_streams(capsys, monkeypatch):
    """azure-ai-ml prints a dot on stdout at every poll and a colour reset on stderr after every
    upload. They are muted where they are printed: sys.stdout and sys.stderr stay the process's,
    so another thread's events (apply DIR) are never written into a mute."""
    pytest.importorskip("azure.ai.ml")
    import importlib
    import inspect

    from azure.ai.ml._utils._azureml_polling import AzureMLPolling
    from azure.mgmt.core.polling.arm_polling import ARMPolling

    from orchestrator.targets.azureml.calls import CHATTY, mute_sdk_prints

    for name in CHATTY:  # the SDK still prints there (an upgrade that moves them shows here)
        assert "print(" in inspect.getsource(importlib.import_module(name)), name
    streams = sys.stdout, sys.stderr
    mute_sdk_prints()
    monkeypatch.setattr(ARMPolling, "update_status", lambda self: None)  # the HTTP poll itself
    AzureMLPolling.update_status(object.__new__(AzureMLPolling))  # the SDK's own line: print(".")
    print("ours")
    assert (sys.stdout, sys.stderr) == streams
    assert capsys.readouterr() == ("ours\n", "")
