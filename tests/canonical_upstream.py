"""A canonical ticket export on 127.0.0.1 that pages by cursor, as a real 12345 system does:
`GET /export/tickets.jsonl?updated_since=T&after_id=ID&limit=N` → the next N tickets ordered
by (updated_at, ticket_id), JSON Lines, with `X-Has-More`. The test can add tickets while it
runs, slow every response down, or hold responses until it lets them go (a leader that read
a page and dies before writing it)."""

from __future__ import annotations

import bisect
import threading
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import orjson

T0 = datetime(2026, 11, 20, 0, 0, tzinfo=timezone.utc)


def ticket(i: int, t: datetime | None = None) -> dict:
    t = t or (T0 + timedelta(seconds=i))
    stamp = t.isoformat(timespec="microseconds").replace("+00:00", "Z")
    return {"ticket_id": f"C-{i:07d}", "status": "registered", "created_at": stamp, "updated_at": stamp,
            "category": "市容环境", "department": "城管局", "grid_code": "150302001001001"}


def _t(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class CanonicalUpstream:
    def __init__(self, n: int = 0, page_cap: int = 5000):
        self.page_cap = page_cap          # the server's own largest page
        self._keys: list[tuple[str, str]] = []
        self._lines: list[bytes] = []
        self._lock = threading.Lock()
        self.delay_s = 0.0                # added to every response
        self.hold = threading.Event()     # cleared: responses wait (after reading) until set
        self.hold.set()
        self.held = threading.Event()     # set when a response is being held
        self.requests = 0
        self.sent = 0                     # responses sent whole
        self.queries: list[dict] = []     # the cursor each request asked from
        self.on_sent = None               # called (in the server thread) after each response
        self.add(range(n))
        up = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):  # noqa: N802
                q = {k: v[-1] for k, v in parse_qs(urlsplit(self.path).query).items()}
                up.queries.append(q)
                body, more = up.page(q.get("updated_since", ""), q.get("after_id", ""), int(q.get("limit", 5000)))
                up.requests += 1
                if up.delay_s:
                    time.sleep(up.delay_s)
                if not up.hold.is_set():
                    up.held.set()
                    up.hold.wait(120)
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/x-ndjson")
                    self.send_header("Content-Length", str(len(body)))
                    self.send_header("X-Has-More", "true" if more else "false")
                    self.end_headers()
                    self.wfile.write(body)
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    return
                up.sent += 1
                if up.on_sent:
                    up.on_sent(up.sent)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/export/tickets.jsonl"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def add(self, ids, at: datetime | None = None) -> None:
        recs = [ticket(i, at) for i in ids]
        with self._lock:
            for rec in recs:
                key = (_t(rec["updated_at"]), rec["ticket_id"])
                if not self._keys or key > self._keys[-1]:
                    self._keys.append(key)
                    self._lines.append(orjson.dumps(rec))
                    continue
                pos = bisect.bisect_right(self._keys, key)
                self._keys.insert(pos, key)
                self._lines.insert(pos, orjson.dumps(rec))

    def ids_through(self, since: str, after_id: str) -> set[str]:
        """The ids a reader holding the cursor (since, after_id) must have: every ticket at or
        before it."""
        with self._lock:
            end = bisect.bisect_right(self._keys, (_t(since), after_id))
            return {k[1] for k in self._keys[:end]}

    def ids(self) -> set[str]:
        with self._lock:
            return {k[1] for k in self._keys}

    def page(self, since: str, after_id: str, limit: int) -> tuple[bytes, bool]:
        limit = min(limit, self.page_cap)
        with self._lock:
            start = bisect.bisect_right(self._keys, (_t(since), after_id)) if since else 0
            lines = self._lines[start:start + limit]
            more = start + limit < len(self._lines)
        return b"".join(x + b"\n" for x in lines), more

    def close(self) -> None:
        self.hold.set()
        self.server.shutdown()
        self.server.server_close()
