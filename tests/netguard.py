"""A recording proxy: every connection a process tries through HTTP(S)_PROXY is refused and noted.

Tests point HTTP_PROXY, HTTPS_PROXY and ALL_PROXY at it (loopback stays direct through NO_PROXY),
run product code, and assert that nothing was recorded: no Hugging Face Hub, no S3, no telemetry.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

_PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


class RecordingProxy(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        self.seen: list[str] = []
        super().__init__(("127.0.0.1", 0), _Refuse)
        threading.Thread(target=self.serve_forever, daemon=True, name="recording-proxy").start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def environ(self) -> dict[str, str]:
        """Proxy variables for a process: everything but loopback goes through this proxy."""
        loopback = "127.0.0.1,localhost,::1"
        return {**{name: self.url for name in _PROXY_VARS}, "NO_PROXY": loopback, "no_proxy": loopback}


class _Refuse(BaseHTTPRequestHandler):
    server: RecordingProxy

    def log_message(self, *args) -> None:
        pass

    def _refuse(self) -> None:
        target = (
            self.path.rsplit(":", 1)[0] if self.command == "CONNECT" else (urlsplit(self.path).hostname or self.path)
        )
        self.server.seen.append(f"{self.command} {target}")
        self.send_response(403, "recorded and refused")
        self.send_header("Content-Length", "0")
        self.end_headers()
        self.close_connection = True

    do_CONNECT = do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = do_PATCH = _refuse
