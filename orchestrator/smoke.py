"""The smoke test request, shared by both targets: one conversation in the Azure chat-completion payload, timed."""

from __future__ import annotations

import json
import random
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from orchestrator import dataprep
from orchestrator.errors import OrchestrateError
from orchestrator.rollout import HEADER
from orchestrator.spec.model import RunSpec


def sample_messages(spec: RunSpec, splits: dict) -> list[dict]:
    """Inline messages, or one conversation of the named split (seeded), cut before its last answer."""
    sample = spec.smoke_test.sample_from
    if not isinstance(sample, str):
        return [dict(m) for m in sample]
    path = splits.get(sample, {}).get("path")
    if not path:
        raise OrchestrateError(f"smoke test samples split {sample!r}, but the data stage wrote none")
    records = dataprep.read_jsonl(Path(path))
    if not records:
        raise OrchestrateError(f"split {sample!r} is empty: nothing to send in the smoke test")
    messages = random.Random(spec.dataset.seed).choice(records)["messages"]
    while messages and messages[-1]["role"] == "assistant":
        messages = messages[:-1]
    return messages or [{"role": "user", "content": "Hello!"}]


def payload(messages: list[dict], parameters: dict) -> bytes:
    return json.dumps({"input_data": {"input_string": messages, "parameters": parameters}, "params": {}}).encode()


def parse_answer(body) -> str:
    """The answer text from any response shape Azure chat endpoints use ({"output": ...}, lists, ...)."""
    if isinstance(body, str):
        return body
    if isinstance(body, list) and body:
        return parse_answer(body[0])
    if isinstance(body, dict):
        for key in ("output", "0"):
            if key in body:
                return parse_answer(body[key])
    return ""


_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is answered as what it is, never followed: urllib would send the request again,
    Authorization (the endpoint key) included, to wherever Location points."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


def opener_for(url: str) -> urllib.request.OpenerDirector:
    """Loopback (the local target's endpoint) is never proxied, whatever HTTP_PROXY says and even
    without NO_PROXY; anything else gets a fresh opener that reads the proxy variables now
    (urlopen's global one keeps the proxies it saw first in the process). Neither follows redirects."""
    if urllib.parse.urlsplit(url).hostname in _LOOPBACK:
        return urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect)
    return urllib.request.build_opener(_NoRedirect)


def invoke(
    uri: str, key: str, messages: list[dict], parameters: dict, *, timeout_s: float, deployment: str | None = None
) -> dict:
    """POST the chat-completion payload; {status, latency_ms, answer | error}. The key is never returned.

    urllib honours HTTPS_PROXY and SSL_CERT_FILE, so corporate proxies and CA bundles work.
    """
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
    if deployment:  # Azure routes to this deployment whatever the traffic split says
        headers[HEADER] = deployment
    request = urllib.request.Request(uri, data=payload(messages, parameters), method="POST", headers=headers)
    started = time.perf_counter()
    try:
        with opener_for(uri).open(request, timeout=timeout_s) as resp:
            body = json.loads(resp.read() or b"null")
            status = resp.status
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")[:300]
        return {"status": exc.code, "latency_ms": (time.perf_counter() - started) * 1000, "error": detail}
    except (urllib.error.URLError, OSError, json.JSONDecodeError) as exc:
        return {"status": 0, "latency_ms": (time.perf_counter() - started) * 1000, "error": str(exc)}
    return {
        "status": status,
        "latency_ms": (time.perf_counter() - started) * 1000,
        "answer": parse_answer(body),
        "messages": messages,
    }
