"""The scoring request that carries the endpoint key: it never leaves the endpoint's own origin."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from orchestrator import smoke


def _serve(handler) -> HTTPServer:
    server = HTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_a_redirect_is_answered_not_followed_with_the_key(code):
    seen: list[str | None] = []

    class Elsewhere(BaseHTTPRequestHandler):  # another origin (another port), recording what reaches it
        def do_GET(self):
            seen.append(self.headers.get("Authorization"))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        do_POST = do_GET

        def log_message(self, *args):
            pass

    elsewhere = _serve(Elsewhere)

    class Redirecting(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(code)
            self.send_header("Location", f"http://127.0.0.1:{elsewhere.server_address[1]}/steal")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    endpoint = _serve(Redirecting)
    try:
        uri = f"http://127.0.0.1:{endpoint.server_address[1]}/score"
        answer = smoke.invoke(uri, "secret-key", [{"role": "user", "content": "hi"}], {}, timeout_s=5)
        assert answer["status"] == code and "answer" not in answer
        assert seen == []  # nothing, key or not, went to where Location pointed
        assert "secret-key" not in repr(answer)
    finally:
        endpoint.shutdown()
        elsewhere.shutdown()
