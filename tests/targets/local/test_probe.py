"""The local liveness probe talks to loopback directly, whatever proxy the environment names."""

from __future__ import annotations

import subprocess
import sys
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer

from orchestrator import smoke
from orchestrator.spec.model import Probe
from orchestrator.targets.local.endpoint import wait_live as _wait_live


class _Healthy(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self):  # the scoring route: answers the Azure contract's {"output": ...}
        self.rfile.read(int(self.headers["Content-Length"]))
        body = b'{"output": "Lima."}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_loopback_calls_ignore_proxies_set_before_or_after(tmp_path, monkeypatch):
    server = HTTPServer(("127.0.0.1", 0), _Healthy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        dead_proxy = "http://127.0.0.1:9"  # discard port: nothing answers
        monkeypatch.setenv("HTTP_PROXY", dead_proxy)
        monkeypatch.setenv("http_proxy", dead_proxy)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        urllib.request.install_opener(urllib.request.build_opener())  # a global opener holding the dead proxy
        probe = Probe(initial_delay=0, period=1, timeout=2, failure_threshold=2, success_threshold=1)
        _wait_live(f"http://127.0.0.1:{server.server_address[1]}/", probe, alive, tmp_path / "log")  # no raise
        # `orchestrate invoke` and the smoke test of the local endpoint: loopback, so no proxy either.
        answer = smoke.invoke(
            f"http://127.0.0.1:{server.server_address[1]}/score",
            "key",
            [{"role": "user", "content": "Capital of Peru?"}],
            {},
            timeout_s=5,
        )
        assert answer["status"] == 200 and answer["answer"] == "Lima.", answer
    finally:
        urllib.request.install_opener(None)
        alive.kill()
        server.shutdown()
