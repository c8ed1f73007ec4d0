"""The local endpoint: a stable scoring URI on 127.0.0.1 that routes to one scoring process per
deployment, as an Azure online endpoint routes to its deployments.

POST /score with `Authorization: Bearer <key>` goes to the deployment named by the
`azureml-model-deployment` header, else to one drawn by the traffic weights; a share of the
weighted requests is copied to the mirror deployment (its answers dropped). The answer, status
and body, is the deployment's. GET / is the endpoint's own liveness. With the key:
GET /-/routes shows the routes and each deployment's (requests, failed);
PUT /-/routes replaces the routes (the target's `set_traffic`), answered once they are in force.

Written here rather than taken from a library: what is needed is a few lines of weighted choice,
header routing and per-deployment counting on the standard library's HTTP server, and a general
proxy (nginx, Envoy) is not a pip dependency. The routes are also kept in a file, so a restarted
router routes as before. Run as `python -m orchestrator.targets.local.router --config FILE`.

Hardened as an endpoint that anyone on the machine can reach: a real listen backlog, socket
timeouts (a client that trickles or goes silent is dropped), at most MAX_CONNECTIONS handled at
once (503 past that), a body read whole or the connection closed, no chunked bodies, a prompt of
at most MAX_BODY, and as Azure does, a deployment takes `max_concurrent_requests_per_instance`
requests at a time, the rest wait their turn up to the request timeout and then get 429. Each
request to a deployment carries the backend key, which only the router and the deployment know.
Its log is rotated, one line per aborted connection.
"""

from __future__ import annotations

import argparse
import hmac
import http.client
import json
import logging
import random
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from logging.handlers import RotatingFileHandler
from pathlib import Path

from orchestrator.rollout import HEADER

MAX_BODY = 256 * 1024  # a chat prompt; a 900 KB one took the model's worker to 2.7 GB
MAX_CONNECTIONS = 64  # handled at once; more are answered 503 at once, not given a thread each
IDLE_S = 30.0  # a client that sends nothing (headers, body) for this long is dropped
BACKEND_HEADER = "X-Orchestrate-Backend-Key"  # the router's proof to a deployment (score.py checks it)
log = logging.getLogger("orchestrate.router")


class Routes:
    """The routes in force and what each deployment served; one lock for all of it."""

    def __init__(self, path: Path):
        self.path = path
        self.lock = threading.Lock()
        self.data = json.loads(path.read_text()) if path.exists() else {"traffic": {}, "mirror": {}, "backends": {}}
        self.counts: dict[str, list[int]] = {}  # deployment -> [requests, failed]
        self.random = random.Random()

    def replace(self, data: dict) -> None:
        from orchestrator.state import atomic_write

        clean = {
            key: {str(k): int(v) for k, v in (data.get(key) or {}).items()} for key in ("traffic", "mirror", "backends")
        }
        with self.lock:
            atomic_write(self.path, json.dumps(clean, indent=2) + "\n")
            self.data = clean

    def pick(self, wanted: str | None) -> tuple[str | None, int | None, tuple[str, int] | None]:
        """(deployment, its port, (mirror deployment, port) or None)."""
        with self.lock:
            backends, traffic = self.data["backends"], {k: v for k, v in self.data["traffic"].items() if v > 0}
            mirror = None
            if wanted is None and traffic:
                wanted = self.random.choices(list(traffic), weights=list(traffic.values()))[0]
                for name, pct in self.data["mirror"].items():
                    if name in backends and self.random.random() * 100 < pct:
                        mirror = (name, backends[name])
            if wanted is None or wanted not in backends:
                return wanted, None, None
            return wanted, backends[wanted], mirror

    def done(self, name: str, failed: bool) -> None:
        with self.lock:
            counts = self.counts.setdefault(name, [0, 0])
            counts[0] += 1
            counts[1] += int(failed)

    def view(self) -> dict:
        with self.lock:
            return {**self.data, "counts": dict(self.counts)}


class Slots:
    """How many requests each deployment takes at once (Azure's max_concurrent_requests_per_instance)."""

    def __init__(self, per_deployment: int):
        self.per_deployment = max(1, per_deployment)
        self.lock = threading.Lock()
        self.slots: dict[str, threading.BoundedSemaphore] = {}

    def of(self, name: str) -> threading.BoundedSemaphore:
        with self.lock:
            return self.slots.setdefault(name, threading.BoundedSemaphore(self.per_deployment))


def forward(port: int, body: bytes, timeout_s: float, backend_key: str = "") -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout_s)
    try:
        headers = {"Content-Type": "application/json", BACKEND_HEADER: backend_key}
        conn.request("POST", "/score", body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    except (OSError, http.client.HTTPException) as exc:
        return 502, json.dumps({"error": f"the deployment did not answer: {exc}"}).encode()
    finally:
        conn.close()


def make_handler(key: str, routes: Routes, timeout_s: float, backend_key: str = "", slots: Slots | None = None):
    busy: Slots = slots or Slots(1)

    class Handler(BaseHTTPRequestHandler):
        server_version = "orchestrate-local-endpoint/1"
        protocol_version = "HTTP/1.1"
        timeout = IDLE_S  # socketserver sets it on the connection: silent or trickling clients end

        def log_message(self, fmt, *args):  # no headers in the log, so no key
            log.info("%s %s", self.address_string(), fmt % args)

        def _send(self, status: int, body: bytes | dict | str, content_type: str = "application/json") -> None:
            data = (
                json.dumps(body).encode()
                if isinstance(body, dict)
                else body
                if isinstance(body, bytes)
                else body.encode()
            )
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _refuse(self, status: int, body: dict) -> None:
            """An answer before the body was read: the connection closes with it, so an unread body
            is never parsed as the next request."""
            self.close_connection = True
            self._send(status, body)

        def _authorized(self) -> bool:
            given = self.headers.get("Authorization", "").encode()
            if hmac.compare_digest(given, f"Bearer {key}".encode()):
                return True
            self._refuse(401, {"error": "missing or wrong key (Authorization: Bearer <key>)"})
            return False

        def _body(self) -> bytes | None:
            if self.headers.get("Transfer-Encoding"):
                self._refuse(411, {"error": "send the body with a Content-Length, not chunked"})
                return None
            try:
                length = int(self.headers.get("Content-Length", "0"))
            except ValueError:
                length = -1
            if not 0 <= length <= MAX_BODY:
                if MAX_BODY < length <= 8 * MAX_BODY:  # read it first: a client still sending would
                    self.rfile.read(length)  # see a broken pipe instead of the 413
                self.close_connection = True
                self._send(
                    413 if length > 0 else 400, {"error": f"a body of 0..{MAX_BODY} bytes, with its Content-Length"}
                )
                return None
            return self.rfile.read(length)

        def do_GET(self):
            if self.path == "/":
                return self._send(200, "Healthy", "text/plain")
            if self.path == "/-/routes" and self._authorized():
                return self._send(200, routes.view())
            if self.path != "/-/routes":
                self._refuse(404, {"error": f"no route {self.path}"})

        def do_PUT(self):
            if self.path != "/-/routes":
                return self._refuse(404, {"error": f"no route {self.path}"})
            body = self._body() if self._authorized() else None
            if body is not None:
                routes.replace(json.loads(body))
                self._send(200, routes.view())

        def do_POST(self):
            if self.path not in ("/score", "/"):
                return self._refuse(404, {"error": f"no route {self.path}"})
            body = self._body() if self._authorized() else None
            if body is None:
                return
            name, port, mirror = routes.pick(self.headers.get(HEADER) or None)
            if port is None or name is None:
                which = f"no deployment {name} behind this endpoint" if name else "no deployment takes traffic"
                return self._send(404, {"error": which})
            if mirror is not None:
                threading.Thread(target=self._mirror, args=(mirror, body), daemon=True).start()
            slot = busy.of(name)
            if not slot.acquire(timeout=timeout_s):  # queued as long as a request may take, as on Azure
                return self._send(429, {"error": f"deployment {name} is busy: {busy.per_deployment} at a time"})
            try:
                status, answer = forward(port, body, timeout_s, backend_key)
            finally:
                slot.release()
            routes.done(name, failed=status >= 500)
            self._send(status, answer)

        @staticmethod
        def _mirror(mirror: tuple[str, int], body: bytes) -> None:
            slot = busy.of(mirror[0])
            if not slot.acquire(blocking=False):  # a mirrored copy never waits: its answer is dropped
                return
            try:
                status, _ = forward(mirror[1], body, timeout_s, backend_key)
            finally:
                slot.release()
            routes.done(mirror[0], failed=status >= 500)

    return Handler


class Server(ThreadingHTTPServer):
    """ThreadingHTTPServer with a real backlog and at most MAX_CONNECTIONS threads at once."""

    daemon_threads = True
    request_queue_size = 128  # socketserver's default is 5: a burst of 50 clients saw resets
    allow_reuse_address = True

    def __init__(self, address, handler, max_connections: int = MAX_CONNECTIONS):
        self.slots = threading.BoundedSemaphore(max_connections)
        super().__init__(address, handler)

    def process_request(self, request, client_address):
        if not self.slots.acquire(blocking=False):
            try:  # no thread for it: one short answer, and the connection closes
                request.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            except OSError:
                pass
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()

    def handle_error(self, request, client_address):
        # A client that went away mid-request: one line, not a traceback per connection.
        error = sys.exc_info()[1]
        log.warning("%s: connection ended: %s", client_address[0], type(error).__name__ if error else "?")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", required=True, help="JSON: port, key_file, routes_file, timeout_ms")
    args = parser.parse_args(argv)
    config = json.loads(Path(args.config).read_text())
    key = Path(config["key_file"]).read_text().strip()
    backend_key = Path(config["backend_key_file"]).read_text().strip() if config.get("backend_key_file") else ""
    if config.get("log_file"):
        handler = RotatingFileHandler(config["log_file"], maxBytes=1024 * 1024, backupCount=2)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        log.addHandler(handler)
    else:
        log.addHandler(logging.StreamHandler(sys.stderr))
    log.setLevel(logging.INFO)
    routes = Routes(Path(config["routes_file"]))
    slots = Slots(int(config.get("max_concurrent", 1)))
    request_handler = make_handler(key, routes, config.get("timeout_ms", 90000) / 1000 + 5, backend_key, slots)
    Server(("127.0.0.1", config["port"]), request_handler).serve_forever()


if __name__ == "__main__":
    main()
