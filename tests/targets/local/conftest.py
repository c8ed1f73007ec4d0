"""A tiny randomly initialised chat model of SmolLM2's architecture (Llama) with a tokenizer trained
on the fly: the local chain runs in seconds with no download."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("peft")

from tests.conftest import SPECS  # noqa: E402

CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def make_tiny_model(folder: Path, texts: list[str]) -> Path:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    torch.manual_seed(0)
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(
        texts,
        trainers.BpeTrainer(
            vocab_size=400, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
        ),
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>", bos_token="<|im_start|>"
    )
    fast.chat_template = CHATML
    config = LlamaConfig(
        vocab_size=len(fast),
        hidden_size=48,
        intermediate_size=96,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        eos_token_id=None,
        pad_token_id=fast.pad_token_id,
        bos_token_id=fast.bos_token_id,
        tie_word_embeddings=True,
    )
    model = LlamaForCausalLM(config)
    # A random tiny model answers greedily with newlines or special tokens only, i.e. "" once
    # stripped, which the smoke test rightly fails. Its generation config (carried through the
    # fine-tune, MLflow and the server) bars those tokens, so every answer has visible text.
    blank = [i for i in range(len(fast)) if not fast.decode([i], skip_special_tokens=True).strip()]
    model.generation_config = GenerationConfig(suppress_tokens=blank, pad_token_id=fast.pad_token_id)
    model.save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    texts = []
    for line in (SPECS / "data" / "quickstart-chat" / "train.jsonl").read_text().splitlines():
        texts.extend(m["content"] for m in json.loads(line)["messages"])
    return make_tiny_model(tmp_path_factory.mktemp("tiny-model"), texts + ["user assistant system"])


@pytest.fixture
def local_run(tmp_path, tiny_model, monkeypatch) -> Path:
    """A local spec using the tiny model and a copy of the quickstart data; cwd is its folder."""
    shutil.copytree(SPECS / "data", tmp_path / "data")
    text = (SPECS / "quickstart-local.yaml").read_text()
    text = text.replace("name: SmolLM2-135M-Instruct", f"name: {tiny_model}")
    text = text.replace("max_new_tokens: 48", "max_new_tokens: 8").replace("do_sample: true", "do_sample: false")
    (tmp_path / "run.yaml").write_text(text)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ORCHESTRATE_STATE_DIR", str(tmp_path / ".orchestrate"))
    return tmp_path / "run.yaml"
