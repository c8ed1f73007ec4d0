"""What a local deployment's entry script (score.py) does with a request: read the Azure
chat-completion payload `{"input_data": {"input_string": [messages], "parameters": {...}}}` (a bad
one is a 400 with the reason) and generate the answer with the registered model.
"""

from __future__ import annotations

import json

MAX_BODY = 1024 * 1024
QUEUE_WAIT_S = 0.5
ROLES = {"system", "user", "assistant"}


class BadRequest(Exception):
    pass


def parse_payload(raw: bytes) -> tuple[list[dict], dict]:
    """The messages and generation parameters of an Azure chat-completion request."""
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise BadRequest("body is not JSON") from None
    data = body.get("input_data") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        raise BadRequest('expected {"input_data": {"input_string": [messages], "parameters": {...}}}')
    messages = data.get("input_string")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("input_data.input_string must be a non-empty list of {role, content}")
    for m in messages:
        if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
            raise BadRequest("each message needs a role (system|user|assistant) and a string content")
    params = data.get("parameters", {})
    if not isinstance(params, dict):
        raise BadRequest("input_data.parameters must be an object")
    allowed: dict[str, type | tuple[type, ...]] = {
        "temperature": (int, float),
        "top_p": (int, float),
        "do_sample": bool,
        "max_new_tokens": int,
    }
    for key, value in params.items():
        if key in allowed and not isinstance(value, allowed[key]):
            raise BadRequest(f"parameters.{key} has the wrong type")
    if params.get("max_new_tokens", 1) < 1 or params.get("max_new_tokens", 1) > 4096:
        raise BadRequest("parameters.max_new_tokens must be in 1..4096")
    return [{"role": m["role"], "content": m["content"]} for m in messages], params


class Scorer:
    """Loads the registered model once; generates an answer per request."""

    def __init__(self, model_dir: str, tokenizer_dir: str, timeout_ms: int):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
        self.model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
        self.timeout_s = timeout_ms / 1000

    def answer(self, messages: list[dict], params: dict) -> str:
        prompt = self.tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        temperature = float(params.get("temperature", 1.0))
        sample = bool(params.get("do_sample", False)) and temperature > 0
        kwargs = {
            "max_new_tokens": int(params.get("max_new_tokens", 200)),
            "do_sample": sample,
            "max_time": self.timeout_s,
            "pad_token_id": self.tokenizer.pad_token_id or self.tokenizer.eos_token_id,
        }
        if sample:
            kwargs.update(temperature=temperature, top_p=float(params.get("top_p", 1.0)))
        with self.torch.no_grad():
            out = self.model.generate(**prompt, **kwargs)
        return self.tokenizer.decode(out[0][prompt["input_ids"].shape[1] :], skip_special_tokens=True).strip()
