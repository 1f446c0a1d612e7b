"""The simulator's HTTP server (standard library `ThreadingHTTPServer`), on 127.0.0.1.

Routes:
    GET  /open311/v2/services.json
    GET  /open311/v2/requests.json          (see `queries.open311_requests`)
    GET  /open311/v2/requests/{id}.json
    GET  /canonical/tickets.jsonl           (see `queries.canonical_page`)
    POST /_control/fail?mode=500|timeout|garbage|off
    GET  /_health
The ticket routes (open311, canonical) obey the fault mode; `_health` and `_control` never do.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

import orjson

from . import queries
from .model import SimulatedCity
from .records import services

FAULT_MODES = ("off", "500", "timeout", "garbage")
GARBAGE = b'<html><body>502 Bad Gateway</body></html>\x00{"service_request_id": [,,'


class SimulatorServer(ThreadingHTTPServer):
    """The HTTP server, holding the city model and the fault-injection state."""

    daemon_threads = True

    def __init__(self, city: SimulatedCity, host: str = "127.0.0.1", port: int = 0,
                 hang_s: float = 30.0) -> None:
        super().__init__((host, port), _Handler)
        self.city = city
        self.fault = "off"
        self.hang_s = hang_s
        self.released = threading.Event()  # set when a hang should end (mode change, stop)
        self.thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def set_fault(self, mode: str) -> None:
        if mode not in FAULT_MODES:
            raise ValueError(f"mode: expected one of {FAULT_MODES}, got {mode!r}")
        self.fault = mode
        self.released.set()
        self.released = threading.Event()

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that hung up (e.g. after its timeout) is no error worth printing."""
        import sys
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)

    def stop(self) -> None:
        """Stop serving and close the socket; hanging requests are released."""
        self.released.set()
        self.shutdown()
        self.server_close()
        if self.thread is not None:
            self.thread.join(timeout=5)


class _Handler(BaseHTTPRequestHandler):
    server: SimulatorServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # quiet: tests and the demo
        pass

    def _send(self, code: int, body: bytes, ctype: str = "application/json; charset=utf-8",
              headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, code: int, obj: object, headers: dict[str, str] | None = None) -> None:
        self._send(code, orjson.dumps(obj), headers=headers)

    def _params(self) -> tuple[str, dict[str, str]]:
        parts = urlsplit(self.path)
        return parts.path, {k: v[-1] for k, v in parse_qs(parts.query).items()}

    def _fault(self) -> bool:
        """Answer as the fault mode says; True when the request has been dealt with."""
        mode = self.server.fault
        if mode == "off":
            return False
        if mode == "timeout":
            self.server.released.wait(self.server.hang_s)
            if self.server.fault == "off":
                return False
            self._json(503, [{"code": 503, "description": "upstream hung (simulated)"}])
        elif mode == "500":
            self._json(500, [{"code": 500, "description": "internal error (simulated)"}])
        else:
            self._send(200, GARBAGE)
        return True

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        path, params = self._params()
        if path != "/_control/fail":
            return self._json(404, {"error": f"no such path: {path}"})
        try:
            self.server.set_fault(params.get("mode", ""))
        except ValueError as e:
            return self._json(400, {"error": str(e)})
        self._json(200, {"mode": self.server.fault})

    def do_GET(self) -> None:  # noqa: N802
        path, params = self._params()
        if path == "/_health":
            now = self.server.city.now()
            return self._json(200, {"status": "ok", "now": now.isoformat(timespec="seconds"),
                                    "fault": self.server.fault})
        routes = {"/open311/v2/services.json": self._services,
                  "/open311/v2/requests.json": self._requests,
                  "/canonical/tickets.jsonl": self._canonical}
        if path.startswith("/open311/v2/requests/") and path.endswith(".json"):
            one = unquote(path[len("/open311/v2/requests/"):-len(".json")])
            params = {"service_request_id": one}
            handler = self._requests
        elif path in routes:
            handler = routes[path]
        else:
            return self._json(404, {"error": f"no such path: {path}"})
        if self._fault():
            return
        handler(params)

    def _services(self, params: dict[str, str]) -> None:
        self._json(200, services())

    def _requests(self, params: dict[str, str]) -> None:
        try:
            records = queries.open311_requests(self.server.city, self.server.city.now(), params)
        except queries.QueryError as e:
            return self._json(400, [{"code": 400, "description": str(e)}])
        self._json(200, records)

    def _canonical(self, params: dict[str, str]) -> None:
        try:
            records, more = queries.canonical_page(
                self.server.city, self.server.city.now(), params.get("updated_since"),
                params.get("after_id"), params.get("limit"))
        except queries.QueryError as e:
            return self._json(400, {"error": str(e)})
        body = b"".join(orjson.dumps(r) + b"\n" for r in records)
        self._send(200, body, "application/x-ndjson; charset=utf-8",
                   {"X-Has-More": "true" if more else "false"})
