"""A tiny JSON upstream on 127.0.0.1 for feed tests, and a clock the test sets by hand."""

from __future__ import annotations

import threading
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import orjson


class Upstream:
    """path → JSON body (set by the test; 404 for any other path); it remembers the queries."""

    def __init__(self):
        self.bodies: dict[str, object] = {}
        self.queries: list[tuple[str, dict]] = []
        up = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):  # noqa: N802
                parts = urlsplit(self.path)
                up.queries.append((parts.path, {k: v[-1] for k, v in parse_qs(parts.query).items()}))
                body = up.bodies.get(parts.path)
                data = orjson.dumps(body) if body is not None else b'{"error": "no such path"}'
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Clock:
    """A clock that stands still at `t` until the test moves it."""

    def __init__(self, t: datetime):
        self.t = t

    def __call__(self) -> datetime:
        return self.t
