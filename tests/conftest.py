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


def pytest_addoption(parser):
    parser.addoption(
        "--update-golden",
        action="store_true",
        help="Write tests/golden/ from what the code prints now, instead of comparing (review the git diff).",
    )


@pytest.fixture
def golden(request):
    """golden(name, text): `text` must be tests/golden/<name>, byte for byte; with --update-golden
    the file is written instead. The human output people read (plan, diff markdown, status,
    render) is pinned this way: a change to it shows as a diff of these files in review."""
    update = request.config.getoption("--update-golden")

    def check(name: str, text: str) -> None:
        path = ROOT / "tests" / "golden" / name
        if update:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            return
        assert path.is_file(), f"no {path.relative_to(ROOT)}: run pytest --update-golden and review it"
        expected = path.read_text(encoding="utf-8")
        if text != expected:
            import difflib

            changed = difflib.unified_diff(expected.splitlines(), text.splitlines(), "golden", "now", lineterm="")
            pytest.fail(f"{name} differs (pytest --update-golden rewrites it):\n" + "\n".join(changed))

    return check


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
