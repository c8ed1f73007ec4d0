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
"""

from __future__ import annotations

import argparse
import hmac
import http.client
import json
import random
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from orchestrator.rollout import HEADER

MAX_BODY = 1024 * 1024


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


def forward(port: int, body: bytes, timeout_s: float) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout_s)
    try:
        conn.request("POST", "/score", body=body, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        return resp.status, resp.read()
    except (OSError, http.client.HTTPException) as exc:
        return 502, json.dumps({"error": f"the deployment did not answer: {exc}"}).encode()
    finally:
        conn.close()


def make_handler(key: str, routes: Routes, timeout_s: float):
    class Handler(BaseHTTPRequestHandler):
        server_version = "orchestrate-local-endpoint/1"
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):  # no headers in the log, so no key
            sys.stderr.write(f"{self.log_date_time_string()} {fmt % args}\n")

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

        def _authorized(self) -> bool:
            given = self.headers.get("Authorization", "").encode()
            if hmac.compare_digest(given, f"Bearer {key}".encode()):
                return True
            self._send(401, {"error": "missing or wrong key (Authorization: Bearer <key>)"})
            return False

        def _body(self) -> bytes | None:
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
                self._send(404, {"error": f"no route {self.path}"})

        def do_PUT(self):
            if self.path != "/-/routes":
                return self._send(404, {"error": f"no route {self.path}"})
            body = self._body() if self._authorized() else None
            if body is not None:
                routes.replace(json.loads(body))
                self._send(200, routes.view())

        def do_POST(self):
            if self.path not in ("/score", "/"):
                return self._send(404, {"error": f"no route {self.path}"})
            body = self._body() if self._authorized() else None
            if body is None:
                return
            name, port, mirror = routes.pick(self.headers.get(HEADER) or None)
            if port is None or name is None:
                which = f"no deployment {name} behind this endpoint" if name else "no deployment takes traffic"
                return self._send(404, {"error": which})
            if mirror is not None:
                threading.Thread(target=self._mirror, args=(mirror, body), daemon=True).start()
            status, answer = forward(port, body, timeout_s)
            routes.done(name, failed=status >= 500)
            self._send(status, answer)

        @staticmethod
        def _mirror(mirror: tuple[str, int], body: bytes) -> None:
            status, _ = forward(mirror[1], body, timeout_s)
            routes.done(mirror[0], failed=status >= 500)

    return Handler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", required=True, help="JSON: port, key_file, routes_file, timeout_ms")
    args = parser.parse_args(argv)
    config = json.loads(Path(args.config).read_text())
    key = Path(config["key_file"]).read_text().strip()
    routes = Routes(Path(config["routes_file"]))
    handler = make_handler(key, routes, config.get("timeout_ms", 90000) / 1000 + 5)
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer(("127.0.0.1", config["port"]), handler).serve_forever()


if __name__ == "__main__":
    main()
