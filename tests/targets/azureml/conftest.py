"""Fixtures for the azureml target: the emulator behind HTTPS_PROXY, a fake `az`, and a spec.

Traffic goes to loopback only: the emulator refuses (and records) any host that is not Azure's,
and every test checks that nothing was refused.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import ROOT, SPECS
from tests.targets.azureml.emulator import AzureEmulator

pytest.importorskip("azure.ai.ml")

SUBSCRIPTION = "00000000-0000-0000-0000-00000000aaaa"


@pytest.fixture
def emulator(tmp_path, monkeypatch):
    em = AzureEmulator(tmp_path / "emulator").start()
    values, unset = em.environment(tmp_path, SUBSCRIPTION)
    for name in unset:  # monkeypatch restores them, AZUREML_CURRENT_CLOUD included
        monkeypatch.delenv(name, raising=False)
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    yield em
    em.stop()
    assert em.refused == [], f"requests left loopback for {em.refused}"


@pytest.fixture
def azure_spec(tmp_path) -> Path:
    return write_azure_spec(tmp_path)


def write_azure_spec(folder: Path) -> Path:
    """The reference spec, authenticated with `cli`, on the bundled chat data instead of the Hub."""
    text = (SPECS / "phi4-ultrachat.yaml").read_text()
    text = text.replace("${env:AZURE_SUBSCRIPTION_ID}", SUBSCRIPTION).replace("credential: default", "credential: cli")
    text = text.replace("source: HuggingFaceH4/ultrachat_200k", f"source: {SPECS / 'data' / 'quickstart-chat'}")
    text = text.replace("train: {from: train_sft, percent: 5}", "train: {from: train, percent: 10}")
    text = text.replace("test: {from: test_sft, percent: 5}", "test: {from: test, percent: 20}")
    text = text.replace("hold: 600", "hold: 1")  # the rollout's first step: held a second, not ten minutes
    text = text.replace("evaluate: {samples: 20,", "evaluate: {samples: 4,")  # the quality gate, smaller
    path = folder / "phi3-azure.yaml"
    path.write_text(text)
    return path


@pytest.fixture
def orchestrate():
    """Run the CLI in this process: orchestrate("apply", spec, "-y") -> click Result."""
    from orchestrator.cli import cli

    def run(*args: str):
        return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)

    return run


def spawn(*args: str, **kwargs) -> subprocess.Popen:
    """`orchestrate` as its own process (for kills and lock contention), with this test's environment."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "orchestrator", *map(str, args)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )
