from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
# The reference run's stages in the order apply runs them (teardown only when the spec asks).
STAGE_ORDER = ["data", "model", "compute", "finetune", "register", "endpoint", "deployment", "smoke_test", "traffic"]

# Offline and quiet, the way CI runs: no Hub, no telemetry.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("AZURE_SUBSCRIPTION_ID", "00000000-0000-0000-0000-000000000000")


THIRD_SPEC = """\
version: 1
name: third-run
target: third
model: {{name: some-base-model}}
dataset:
  source: ./chat
  splits:
    train: {{from: train, percent: 10}}
    test: {{from: test, percent: 10}}
finetune: {{epochs: {epochs}}}
deployment: {{endpoint: third-ep}}
smoke_test: {{sample_from: test, evaluate: {{samples: 0}}}}
"""


@pytest.fixture
def third(monkeypatch, tmp_path):
    """A spec of the third target (tests/third_target), registered by its one line; cwd is its folder."""
    from orchestrator import registry
    from orchestrator.targets.local.sample_data import write_dataset

    monkeypatch.setitem(registry.TARGETS, "third", "tests.third_target")  # the one line
    monkeypatch.setenv("ORCHESTRATE_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.chdir(tmp_path)
    write_dataset(tmp_path / "chat", train=40, test=20)
    spec = tmp_path / "third.yaml"
    spec.write_text(THIRD_SPEC.format(epochs=1), encoding="utf-8")
    return spec


@pytest.fixture
def reference_text() -> str:
    return (SPECS / "phi4-ultrachat.yaml").read_text()


@pytest.fixture
def write_spec(tmp_path):
    """Write spec text to a file in tmp_path and return its path."""

    def write(text: str, name: str = "run.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write


@pytest.fixture
def recording_proxy(monkeypatch):
    """Every non-loopback connection through the proxy variables is refused and recorded; the Hub's
    offline switches are off, so code that would reach the Hub tries (and is seen)."""
    from tests.netguard import RecordingProxy

    proxy = RecordingProxy()
    for name, value in proxy.environ().items():
        monkeypatch.setenv(name, value)
    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    yield proxy
    proxy.shutdown()
