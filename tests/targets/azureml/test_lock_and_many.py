"""The lock file (what `latest` resolved to, committed beside the spec) and many specs at once, on
target azureml against the emulator."""

from __future__ import annotations

import json

import yaml

from tests.targets.azureml.conftest import write_azure_spec
from tests.targets.azureml.test_apply_azure import _mutated


def _lock(spec) -> dict:
    return yaml.safe_load(spec.with_suffix(".lock").read_text())


def _job_inputs(em) -> list[tuple[str, str]]:
    """(base model path, component id) of every fine-tune job the emulator holds, by name."""
    out = []
    for _, job in sorted(em.resources("jobs").items()):
        node = job["properties"]["jobs"]["finetune"]
        out.append((node["inputs"]["mlflow_model_path"]["uri"], node["componentId"]))
    return out


def test_apply_writes_the_lock_and_a_newer_version_changes_nothing(emulator, azure_spec, orchestrate):
    result = orchestrate("apply", azure_spec, "-y")
    assert result.exit_code == 0, result.output
    pins = _lock(azure_spec)["pins"]
    assert pins["model"] == {
        "ref": "azureml://registries/azureml/models/Phi-4/labels/latest",
        "version": "8",
    }
    assert pins["component"]["version"] == "0.0.82"
    assert "dataset" not in pins  # a local folder has no revision to pin
    assert f"wrote {azure_spec.with_suffix('.lock')}" in result.output
    # The job ran exactly the pinned versions, not the moving labels.
    ((model_path, component),) = _job_inputs(emulator)
    assert model_path.endswith("/models/Phi-4/versions/8")
    assert component.endswith("/components/chat_completion_pipeline/versions/0.0.82")

    emulator.publish_version("models", "Phi-4", "9")
    emulator.publish_version("components", "chat_completion_pipeline", "0.0.83")
    before = azure_spec.with_suffix(".lock").read_text()
    result = orchestrate("plan", azure_spec, "--detailed-exitcode")
    assert result.exit_code == 0, result.output
    assert "Phi-4 9 is available (locked: 8); `orchestrate lock --upgrade" in result.output
    assert "chat_completion_pipeline 0.0.83 is available (locked: 0.0.82)" in result.output
    since = len(emulator.requests)
    result = orchestrate("apply", azure_spec, "-y")
    assert result.exit_code == 0, result.output
    assert "No changes" in result.output
    assert _mutated(emulator, since) == []
    assert azure_spec.with_suffix(".lock").read_text() == before


def test_lock_upgrade_reruns_the_finetune_on_the_new_base_model(emulator, azure_spec, orchestrate):
    assert orchestrate("apply", azure_spec, "-y").exit_code == 0
    emulator.publish_version("models", "Phi-4", "9")

    result = orchestrate("lock", azure_spec)  # without --upgrade the pins stay
    assert result.exit_code == 0, result.output
    assert "model Phi-4: 8 (unchanged)" in result.output
    assert "9 is available (locked: 8)" in result.output
    assert _lock(azure_spec)["pins"]["model"]["version"] == "8"

    result = orchestrate("lock", "--upgrade", azure_spec)
    assert result.exit_code == 0, result.output
    assert "model Phi-4: 8 -> 9" in result.output
    assert _lock(azure_spec)["pins"]["model"]["version"] == "9"

    result = orchestrate("plan", azure_spec, "--detailed-exitcode", "-o", "json")
    assert result.exit_code == 2, result.output
    stages = {s["name"]: s for s in json.loads(result.output)["stages"]}
    assert stages["model"]["reason"] == "changed: pinned"
    assert stages["finetune"]["action"] == "replace"
    assert stages["finetune"]["reason"] == "follows model (update)"
    assert stages["data"]["action"] == "skip"

    result = orchestrate("apply", azure_spec, "-y")
    assert result.exit_code == 0, result.output
    models = sorted(path.rsplit("/", 1)[1] for path, _ in _job_inputs(emulator))
    assert models == ["8", "9"]
    assert orchestrate("plan", azure_spec, "--detailed-exitcode").exit_code == 0


def test_a_lock_for_another_model_is_resolved_anew(emulator, azure_spec, orchestrate):
    """A pin records the reference it resolved: when the spec names another version, it no longer applies."""
    assert orchestrate("apply", azure_spec, "-y").exit_code == 0
    azure_spec.write_text(azure_spec.read_text().replace("version: latest", "version: '7'", 1))
    result = orchestrate("plan", azure_spec, "-o", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["pins"]["model"] == "7"


def _two_specs(folder):
    """Two runs of the reference spec in one folder: their own names, endpoints and clusters."""
    first = write_azure_spec(folder)
    second = folder / "second.yaml"
    text = first.read_text().replace("name: phi4-ultrachat\n", "name: second-run\n")
    text = text.replace("endpoint: ultrachat-completion", "endpoint: second-run-ep")
    second.write_text(text.replace("name: gpu-a100", "name: gpu-second"))
    return first, second


def test_apply_dir_applies_every_spec_and_is_idempotent(emulator, tmp_path, orchestrate):
    folder = tmp_path / "specs"
    folder.mkdir()
    first, second = _two_specs(folder)
    result = orchestrate("apply", folder, "-y", "--parallel", "2")
    assert result.exit_code == 0, result.output
    assert "Apply of 2 specs:" in result.output and "2 ok, 0 failed." in result.output
    assert "[second-run] smoke_test: done" in result.output
    runs = {j["properties"]["tags"]["orchestrate.run"] for j in emulator.resources("jobs").values()}
    assert runs == {"phi4-ultrachat", "second-run"}
    assert len(emulator.resources("onlineendpoints")) == 2
    assert first.with_suffix(".lock").is_file() and second.with_suffix(".lock").is_file()

    result = orchestrate("plan", folder, "--detailed-exitcode")
    assert result.exit_code == 0, result.output
    assert "Plans of 2 specs:" in result.output
    since = len(emulator.requests)
    result = orchestrate("apply", folder, "-y", "-o", "json")
    assert result.exit_code == 0, result.output
    assert _mutated(emulator, since) == []
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary["event"] == "summary" and [r["exit_code"] for r in summary["runs"]] == [0, 0]


def test_one_failing_spec_leaves_the_other_applied(emulator, tmp_path, orchestrate):
    folder = tmp_path / "specs"
    folder.mkdir()
    first, second = _two_specs(folder)
    # Azure refuses the second run's cluster.
    emulator.fail("PUT", r"/computes/gpu-second", 400, code="BadRequest", times=-1)
    result = orchestrate("apply", folder, "-y", "-o", "json")
    assert result.exit_code == 1, result.output
    events = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    errors = [e for e in events if e["event"] == "error"]
    assert errors and {e["run"] for e in errors} == {"second-run"}
    finished = {(e["run"], e["stage"]) for e in events if e["event"] == "finished"}
    assert ("phi4-ultrachat", "smoke_test") in finished
    summary = events[-1]
    assert [(r["run"], r["exit_code"]) for r in summary["runs"]] == [("phi4-ultrachat", 0), ("second-run", 1)]


def test_locked_refuses_a_missing_or_stale_lock_and_check_finds_newer(emulator, azure_spec, orchestrate):
    since = len(emulator.requests)
    result = orchestrate("apply", azure_spec, "-y", "--locked")
    assert result.exit_code == 1
    assert f"{azure_spec.with_suffix('.lock')} is missing (--locked): run `orchestrate lock" in result.output
    assert _mutated(emulator, since) == [] and not azure_spec.with_suffix(".lock").exists()

    result = orchestrate("lock", "--check", azure_spec)
    assert result.exit_code == 2 and "would change" in result.output
    assert orchestrate("lock", azure_spec).exit_code == 0
    assert orchestrate("lock", "--check", azure_spec).exit_code == 0
    assert orchestrate("apply", azure_spec, "-y", "--locked").exit_code == 0

    emulator.publish_version("models", "Phi-4", "9")
    result = orchestrate("lock", "--check", azure_spec)
    assert result.exit_code == 2, result.output
    assert "model Phi-4: 8 -> 9" in result.output
    assert _lock(azure_spec)["pins"]["model"]["version"] == "8"  # --check writes nothing
    # Still locked at 8: a --locked plan runs what was committed and says what is newer.
    result = orchestrate("plan", azure_spec, "--locked", "--detailed-exitcode")
    assert result.exit_code == 0 and "9 is available (locked: 8)" in result.output


def test_a_locked_version_the_registry_dropped_is_one_clear_error(emulator, azure_spec, orchestrate):
    assert orchestrate("lock", azure_spec).exit_code == 0
    emulator.publish_version("models", "Phi-4", "9")
    with emulator.lock:  # the registry retires version 8
        (key,) = [k for k in emulator.store if k.endswith("/models/phi-4/versions/8")]
        del emulator.store[key]
    result = orchestrate("plan", azure_spec)
    assert result.exit_code == 1
    assert "model Phi-4 (8) not found in registry azureml; the lock file pins it; " in result.output
    assert "orchestrate lock --upgrade" in result.output and "Traceback" not in result.output


def test_fail_fast_keeps_the_next_runs_from_starting_and_destroy_dir(emulator, tmp_path, orchestrate):
    folder = tmp_path / "specs"
    folder.mkdir()
    first, second = _two_specs(folder)  # applied in name order: phi3-azure.yaml, then second.yaml
    emulator.fail("PUT", r"/computes/gpu-a100", 400, code="BadRequest", times=-1)
    result = orchestrate("apply", folder, "-y", "--parallel", "1", "--fail-fast")
    assert result.exit_code == 1, result.output
    assert "not started: an earlier run failed (--fail-fast)" in result.output
    assert not emulator.resources("computes") and not emulator.resources("jobs")

    emulator.faults.clear()
    assert orchestrate("apply", folder, "-y").exit_code == 0
    result = orchestrate("status", folder, "-o", "json")
    assert result.exit_code == 0, result.output
    statuses = json.loads(result.output)["runs"]
    assert [(s["spec"], s["run"]) for s in statuses] == [(str(first), "phi4-ultrachat"), (str(second), "second-run")]
    assert all(s["stages"] for s in statuses)
    since = len(emulator.requests)
    result = orchestrate("destroy", folder, "-y")
    assert result.exit_code == 0, result.output
    assert "Destroy of 2 specs:" in result.output
    deleted = [m for m in _mutated(emulator, since) if m == "DELETE onlineEndpoints"]
    assert len(deleted) == 2 and not emulator.resources("onlineendpoints")
