"""The local online endpoint: a scoring server on 127.0.0.1 that speaks the Azure contract.

POST /score with `Authorization: Bearer <key>` and
`{"input_data": {"input_string": [messages], "parameters": {...}}}` answers `{"output": "..."}`
like the Azure foundation-model endpoint. GET / is the liveness route ("Healthy" once the model is
loaded). Bad payloads get 400 with a JSON error, a wrong key 401, oversized bodies 413, more
concurrent requests than the deployment allows 429. Run as
`python -m orchestrator.targets.local.server --config FILE`.
"""

from __future__ import annotations

import argparse
import hmac
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

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


def make_handler(key: str, scorer_ref: dict, slots: threading.Semaphore, max_body: int):
    class Handler(BaseHTTPRequestHandler):
        server_version = "orchestrate-local/1"

        def log_message(self, fmt, *args):  # the access log never carries headers, so no key leaks
            sys.stderr.write(f"{self.log_date_time_string()} {fmt % args}\n")

        def _send(self, status: int, body: dict | str) -> None:
            data = (json.dumps(body) if isinstance(body, dict) else body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json" if isinstance(body, dict) else "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path in ("/", "/health", "/ready"):
                ready = scorer_ref.get("scorer") is not None
                return self._send(200 if ready else 503, "Healthy" if ready else "Loading")
            return self._send(404, {"error": f"no route {self.path}"})

        def do_POST(self):
            if self.path not in ("/score", "/"):
                return self._send(404, {"error": f"no route {self.path}"})
            auth = self.headers.get("Authorization", "")
            if not hmac.compare_digest(auth.encode(), f"Bearer {key}".encode()):
                return self._send(401, {"error": "missing or wrong key (Authorization: Bearer <key>)"})
            try:
                length = int(self.headers.get("Content-Length", "0"))
            except ValueError:
                return self._send(400, {"error": "bad Content-Length"})
            if length > max_body:
                # Read (and drop) a body up to 8x the limit first: a client still sending when the
                # answer comes would see a broken pipe instead of the 413. Beyond that, just close.
                if length <= 8 * max_body:
                    self.rfile.read(length)
                else:
                    self.close_connection = True
                return self._send(413, {"error": f"body over {max_body} bytes"})
            raw = self.rfile.read(length)
            try:
                messages, params = parse_payload(raw)
            except BadRequest as exc:
                return self._send(400, {"error": str(exc)})
            scorer = scorer_ref.get("scorer")
            if scorer is None:
                return self._send(503, {"error": "model is loading"})
            # Like Azure, a request over max_concurrent_requests_per_instance queues briefly
            # (max_queue_wait, 500 ms by default) before it is refused with 429.
            if not slots.acquire(timeout=QUEUE_WAIT_S):
                return self._send(429, {"error": "too many concurrent requests for this deployment"})
            started = time.perf_counter()
            try:
                text = scorer.answer(messages, params)
            finally:
                slots.release()  # before answering: the client's next request must find the slot free
            if time.perf_counter() - started > scorer.timeout_s:
                return self._send(408, {"error": "request timed out"})
            return self._send(200, {"output": text})

    return Handler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", required=True, help="JSON: model_dir, port, key_file, timeout_ms, max_concurrent")
    args = parser.parse_args(argv)
    config = json.loads(Path(args.config).read_text())
    key = Path(config["key_file"]).read_text().strip()
    scorer_ref: dict = {}
    slots = threading.Semaphore(config.get("max_concurrent", 1))
    server = ThreadingHTTPServer(
        ("127.0.0.1", config["port"]), make_handler(key, scorer_ref, slots, config.get("max_body", MAX_BODY))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    scorer_ref["scorer"] = Scorer(
        config["model_dir"], config.get("tokenizer_dir", config["model_dir"]), config["timeout_ms"]
    )
    threading.Event().wait()


if __name__ == "__main__":
    main()
