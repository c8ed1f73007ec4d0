"""The emulator's front door: an HTTP proxy that opens TLS tunnels for Azure host names only.

CONNECT to an Azure host is answered "200 Connection established"; the tunnel is then terminated
here with the test CA's certificate and each request inside it goes to `app.handle(request)`.
Any other host (the instance metadata address, the Hugging Face Hub, ...) is refused with 403
and recorded, so a stray call fails the test that made it.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import _SocketWriter  # type: ignore[attr-defined]
from urllib.parse import parse_qsl, urlsplit

from tests.targets.azureml.tls import is_azure_host


@dataclass
class Request:
    method: str
    host: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body or b"{}")


@dataclass
class Response:
    status: int
    body: object = None  # dict/list -> JSON, bytes -> as is
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False  # close the connection without answering (a network failure)


class ProxyServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, handle: Callable[[Request], Response], tls: ssl.SSLContext):
        self.handle_request_fn = handle
        self.tls = tls
        self.refused: list[str] = []
        super().__init__(("127.0.0.1", 0), _Handler)

    def start(self) -> None:
        threading.Thread(target=self.serve_forever, daemon=True, name="azure-emulator").start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ProxyServer
    tunnel_host = ""

    def log_message(self, *args) -> None:  # quiet: the app keeps its own request log
        pass

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_CONNECT(self) -> None:
        host = self.path.rsplit(":", 1)[0]
        if not is_azure_host(host):
            self.server.refused.append(host)
            self.send_response(403, "not an Azure host")
            self.send_header("Content-Length", "0")
            self.end_headers()
            self.close_connection = True
            return
        self.send_response(200, "Connection established")
        self.end_headers()
        try:
            tls = self.server.tls.wrap_socket(self.connection, server_side=True)
        except (ssl.SSLError, OSError):
            self.close_connection = True
            return
        # From here the same handler loop reads HTTP requests from inside the tunnel.
        self.connection = tls
        self.rfile = tls.makefile("rb")
        self.wfile = _SocketWriter(tls)
        self.tunnel_host = host
        self.close_connection = False  # http.client tunnels with HTTP/1.0, which would end the loop

    def _dispatch(self) -> None:
        if not self.tunnel_host:  # plain http through the proxy: not Azure
            self.server.refused.append(urlsplit(self.path).hostname or self.path)
            self._send(Response(403, {"error": {"code": "Refused", "message": "plain HTTP is not emulated"}}))
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = self._read_chunked()
        parts = urlsplit(self.path)
        request = Request(
            self.command,
            self.tunnel_host,
            parts.path,
            dict(parse_qsl(parts.query)),
            {k.lower(): v for k, v in self.headers.items()},
            body,
        )
        try:
            response = self.server.handle_request_fn(request)
        except Exception as exc:  # an emulator bug must show in the test, not hang the client
            import traceback

            traceback.print_exc()
            response = Response(500, {"error": {"code": "EmulatorBug", "message": repr(exc)}})
        self._send(response)

    def _read_chunked(self) -> bytes:
        out = b""
        while True:
            size = int(self.rfile.readline().strip().split(b";")[0], 16)
            if size == 0:
                self.rfile.readline()
                return out
            out += self.rfile.read(size)
            self.rfile.readline()

    def _send(self, response: Response) -> None:
        if response.drop:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if isinstance(response.body, (bytes, bytearray)):
            payload = bytes(response.body)
            ctype = "application/octet-stream"
        elif response.body is None:
            payload, ctype = b"", "application/json"
        else:
            payload, ctype = json.dumps(response.body).encode(), "application/json; charset=utf-8"
        self.send_response(response.status)
        headers = {"Content-Type": ctype, **response.headers, "Content-Length": str(len(payload))}
        for key, value in headers.items():
            self.send_header(key, value)
        # Headers and body in one write: two small writes meet Nagle + delayed ACK (~40 ms a request).
        self._headers_buffer.append(b"\r\n" + (payload if self.command != "HEAD" else b""))
        try:
            self.flush_headers()
        except OSError:  # the client is gone (a test killed it): nothing to answer
            self.close_connection = True

    do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = do_HEAD = _dispatch
