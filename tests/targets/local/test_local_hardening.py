"""The local endpoint as anyone on this machine can reach it: a real router and a real deployment
(the tiny model), attacked on loopback with bounded loops (issue 22, items 2 and 8)."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from click.testing import CliRunner

from orchestrator.cli import cli

BODY = json.dumps({"input_data": {"input_string": [{"role": "user", "content": "Hi"}], "parameters": {}}}).encode()


# Loopback, never a proxy (urlopen's global opener keeps the proxies the first caller saw).
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _post(url: str, body: bytes, headers: dict, timeout: float = 60) -> int:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json", **headers})
    try:
        with DIRECT.open(request, timeout=timeout) as resp:
            resp.read()
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def _raw(port: int, data: bytes, timeout: float = 10) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        chunks = []
        try:
            while chunk := s.recv(65536):
                chunks.append(chunk)
        except TimeoutError:
            pass
        return b"".join(chunks)


def _environ(pid: int) -> bytes:
    return Path(f"/proc/{pid}/environ").read_bytes()


def test_the_local_endpoint_holds_under_hostile_clients(local_run, tmp_path, monkeypatch):
    monkeypatch.setenv("AZURE_CLIENT_SECRET", "do-not-hand-me-down-42")  # what a CI job may hold
    assert CliRunner().invoke(cli, ["apply", str(local_run), "-y"], catch_exceptions=False).exit_code == 0
    run_dir = tmp_path / ".orchestrate" / "quickstart"
    router_port = json.loads((run_dir / "router.json").read_text())["port"]
    key = (run_dir / "endpoint.key").read_text().strip()
    (deployment,) = json.loads((run_dir / "deployments.json").read_text()).values()
    auth = {"Authorization": f"Bearer {key}"}
    score = f"http://127.0.0.1:{router_port}/score"
    router_pid = json.loads((run_dir / "state.json").read_text())["stages"]["endpoint"]["pid"]
    try:
        # Item 13: the servers get no secret of this process's environment, and no shared socket.
        for pid in (router_pid, deployment["pid"]):
            assert b"do-not-hand-me-down-42" not in _environ(pid)
        command = Path(f"/proc/{deployment['pid']}/cmdline").read_bytes().split(b"\0")
        assert b"--no-control-socket" in command or b"--control-socket" not in command
        # Item 2: the deployment's own port answers no one but the router.
        assert _post(f"http://127.0.0.1:{deployment['port']}/score", BODY, {}) == 401
        # ... and a half-open connection to it does not stall the endpoint.
        stall = socket.create_connection(("127.0.0.1", deployment["port"]))
        stall.sendall(b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        started = time.monotonic()
        assert _post(score, BODY, auth, timeout=30) == 200 and time.monotonic() - started < 20
        stall.close()

        # Item 8: 50 clients at once: none reset (the listen backlog was 5).
        with ThreadPoolExecutor(max_workers=50) as pool:
            statuses = list(pool.map(lambda _: _raw(router_port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 10), range(50)))
        assert all(s.startswith(b"HTTP/1.1 200") for s in statuses)
        # Trickling, silent clients: bounded threads, the endpoint still answers.
        silent = [socket.create_connection(("127.0.0.1", router_port)) for _ in range(80)]
        for s in silent:
            s.sendall(b"POST /score HTTP/1.1\r\n")
        assert _post(score, BODY, auth, timeout=40) in (200, 503)  # never a hang
        for s in silent:
            s.close()
        for _ in range(25):  # their threads end as the connections close: the slots come back
            if (status := _post(score, BODY, auth, timeout=40)) == 200:
                break
            time.sleep(0.2)
        assert status == 200
        # A 401 with a body, then a pipelined request: the body is not parsed as the next request.
        smuggled = b"GET /-/routes HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + key.encode() + b"\r\n\r\n"
        answer = _raw(
            router_port,
            b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(smuggled) + smuggled,
        )
        assert answer.startswith(b"HTTP/1.1 401") and b'"backends"' not in answer
        # Chunked bodies are refused, not misread.
        chunked = (
            b"POST /score HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nTransfer-Encoding: chunked\r\n\r\n"
            % (key.encode())
        )
        assert _raw(router_port, chunked + b"5\r\nhello\r\n0\r\n\r\n").startswith(b"HTTP/1.1 411")
        # A 900 KB prompt is refused before any model sees it.
        huge = json.dumps({"input_data": {"input_string": [{"role": "user", "content": "x" * 900_000}]}}).encode()
        assert _post(score, huge, auth) == 413
        # Past max_concurrent_requests_per_instance (1), requests wait their turn: all served.
        with ThreadPoolExecutor(max_workers=4) as pool:
            assert set(pool.map(lambda _: _post(score, BODY, auth), range(4))) == {200}
        # The router's log is rotated and holds no traceback for the aborted connections.
        log = (run_dir / "router.log").read_text(errors="replace")
        assert "Traceback" not in log
    finally:
        assert CliRunner().invoke(cli, ["destroy", str(local_run), "-y"], catch_exceptions=False).exit_code == 0
    # The logs (prompts and answers are in them) go with what wrote them.
    assert not [*run_dir.glob("router.log*"), *run_dir.glob("deployment-*.log")]


class _Payload:
    """Unpickled, it would leave a file behind: the proof that code in a checkpoint ran."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_checkpoint_with_pickled_code_is_not_run(local_run, tiny_model, tmp_path):
    import torch

    from orchestrator.spec.validate import load_runspec
    from orchestrator.targets.local.train import finetune

    out = tmp_path / "ft"
    out.mkdir()
    marker = tmp_path / "pwned"
    torch.save({"weights": _Payload(marker), "step": 1}, out / "checkpoint.pt")  # a tampered resume file
    said: list[dict] = []
    result = finetune(
        load_runspec(local_run), tiny_model, tmp_path / "data" / "quickstart-chat" / "train.jsonl", out, said.append
    )
    assert not marker.exists()
    assert any(p.get("phase") == "checkpoint" and "starting over" in p["message"] for p in said)
    assert result["loss_last"] > 0 and not (out / "checkpoint.pt").exists()
