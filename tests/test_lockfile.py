"""The lock file on its own: what a spec's moving references are, how pins enter fingerprints."""

from __future__ import annotations

import pytest

from orchestrator import lockfile
from orchestrator.errors import OrchestrateError
from orchestrator.lockfile import Pin
from orchestrator.plan import fingerprints
from orchestrator.spec.validate import load_runspec
from tests.conftest import SPECS


@pytest.fixture
def phi3(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text((SPECS / "phi4-ultrachat.yaml").read_text().replace("${env:AZURE_SUBSCRIPTION_ID}", "x"))
    return path


def test_the_moving_references_of_the_reference_spec(phi3):
    spec = load_runspec(phi3)
    assert lockfile.refs(spec) == {
        "model": "azureml://registries/azureml/models/Phi-4/labels/latest",
        "component": "azureml://registries/azureml/components/chat_completion_pipeline/labels/latest",
        "dataset": "HuggingFaceH4/ultrachat_200k@default branch",
    }
    local = load_runspec(SPECS / "quickstart-local.yaml")
    assert lockfile.refs(local) == {}  # a bundled model and a local folder: nothing moves


def test_pins_enter_the_fingerprints_of_what_they_change(phi3):
    spec = load_runspec(phi3)
    refs = lockfile.refs(spec)
    base = fingerprints(lockfile.with_pins(spec, {k: Pin(r, "1") for k, r in refs.items()}))
    for kind, first_changed in (("model", "model"), ("component", "finetune"), ("dataset", "data")):
        pins = {k: Pin(r, "2" if k == kind else "1") for k, r in refs.items()}
        moved = fingerprints(lockfile.with_pins(spec, pins))
        changed = [stage for stage in base if base[stage] != moved[stage]]
        assert changed[0] == first_changed, kind
        assert "register" in changed and "endpoint" not in changed and "compute" not in changed


def test_written_lock_reads_back_and_a_pin_for_another_reference_is_dropped(phi3):
    spec = load_runspec(phi3)
    refs = lockfile.refs(spec)
    pins = {"model": Pin(refs["model"], "15"), "component": Pin(refs["component"], "0.0.82")}
    assert lockfile.write(spec, pins) == phi3.with_suffix(".lock")
    assert lockfile.write(spec, pins) is None  # unchanged: not rewritten
    assert lockfile.read(spec) == pins
    assert lockfile.locked(spec).pins == {"component": "0.0.82", "model": "15"}
    phi3.write_text(phi3.read_text().replace("version: latest", "version: '14'", 1))
    assert lockfile.locked(load_runspec(phi3)).pins == {"component": "0.0.82"}


def test_a_broken_lock_is_one_clear_error(phi3):
    phi3.with_suffix(".lock").write_text("pins: [1, 2\n")
    with pytest.raises(OrchestrateError, match="is not a lock file"):
        lockfile.read(load_runspec(phi3))
    phi3.with_suffix(".lock").write_text("lock_version: 1\npins: {model: {ref: x}}\n")
    with pytest.raises(OrchestrateError, match="pin 'model' needs"):
        lockfile.read(load_runspec(phi3))


def test_an_explicit_sha_revision_is_pinned_without_the_hub(phi3, monkeypatch):
    sha = "0123456789abcdef0123456789abcdef01234567"
    phi3.write_text(phi3.read_text().replace("source: HuggingFaceH4/ultrachat_200k", f"source: x/y\n  revision: {sha}"))
    spec = load_runspec(phi3)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert lockfile.dataset_pin(spec, {}, upgrade=False) == (Pin(f"x/y@{sha}", sha), "")
    phi3.write_text(phi3.read_text().replace(sha, "main"))
    pin, why = lockfile.dataset_pin(load_runspec(phi3), {}, upgrade=False)
    assert pin is None and "revision not pinned (HF_HUB_OFFLINE is set)" in why


def test_the_locked_revision_is_the_one_loaded_from_the_hub(phi3, monkeypatch):
    datasets = pytest.importorskip("datasets")
    from orchestrator import dataprep

    asked = []
    # The Hub is the network boundary: record what would be asked of it.
    monkeypatch.setattr(datasets, "load_dataset", lambda *args, **kwargs: asked.append((args, kwargs)) or [])
    spec = load_runspec(phi3)
    sha = "89abcdef0123456789abcdef0123456789abcdef"
    dataprep._load_split(lockfile.with_pins(spec, {"dataset": Pin("x", sha)}), "train_sft")
    dataprep._load_split(spec, "train_sft")
    assert asked == [
        (("HuggingFaceH4/ultrachat_200k", None), {"split": "train_sft", "revision": sha}),
        (("HuggingFaceH4/ultrachat_200k", None), {"split": "train_sft"}),
    ]


def test_lock_pins_a_hub_dataset_to_the_commit_the_hub_names(tmp_path):
    """The Hub is the network boundary: a local stand-in answers dataset_info (HF_ENDPOINT)."""
    import json
    import os
    import subprocess
    import sys
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    sha = "fedcba9876543210fedcba9876543210fedcba98"
    asked = []

    class Hub(BaseHTTPRequestHandler):
        def do_GET(self):  # dataset_info: what huggingface_hub reads is the commit, `sha`
            asked.append(self.path)
            body = json.dumps({"id": "acme/chats", "sha": sha, "private": False}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        log_message = lambda self, *args: None  # noqa: E731 - quiet

    hub = ThreadingHTTPServer(("127.0.0.1", 0), Hub)
    threading.Thread(target=hub.serve_forever, daemon=True).start()
    spec = tmp_path / "hub.yaml"
    text = (SPECS / "quickstart-local.yaml").read_text()
    spec.write_text(text.replace("source: ./data/quickstart-chat", "source: acme/chats"))
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")}
    env.update(HF_ENDPOINT=f"http://127.0.0.1:{hub.server_port}", NO_PROXY="127.0.0.1", no_proxy="127.0.0.1")
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "orchestrator", "lock", str(spec)], env=env, capture_output=True, text=True
        )
    finally:
        hub.shutdown()
    assert proc.returncode == 0, proc.stderr
    assert f"dataset acme/chats@default branch: {sha} (new)" in proc.stdout
    assert any(path.startswith("/api/datasets/acme/chats") for path in asked), asked
    pins = lockfile.read(load_runspec(spec))
    assert pins == {"dataset": Pin("acme/chats@default branch", sha)}


# A pin whose ref is an alias of 9**9 strings: PyYAML shares the objects, then str(ref) expands them.
BOMB = (
    "lock_version: 1\n"
    + "".join(
        f"{name}: &{name} [{', '.join([f'*{prev}'] * 9) if prev else ', '.join(['x'] * 9)}]\n"
        for prev, name in zip(["", *"abcdefgh"], "abcdefghi", strict=True)
    )
    + "pins: {model: {ref: *i, version: '1'}}\n"
)


def test_an_alias_bomb_lock_is_refused_in_one_line_not_expanded(phi3, tmp_path):
    """600 bytes that expand to 9**9 nodes: the spec loader's caps apply to the lock too (issue 22)."""
    import subprocess
    import sys

    from tests.conftest import ROOT

    assert len(BOMB) < 700
    phi3.with_suffix(".lock").write_text(BOMB)
    proc = subprocess.run(
        [sys.executable, "-m", "orchestrator", "plan", str(phi3), "--offline"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,  # the unbounded loader grew past 250 MiB in 20 s
    )
    assert proc.returncode == 1 and "is not a lock file" in proc.stderr and "Traceback" not in proc.stderr
    with pytest.raises(OrchestrateError, match=r"run.lock is not a lock file \(.*more than 20000 nodes"):
        lockfile.read(load_runspec(phi3))
