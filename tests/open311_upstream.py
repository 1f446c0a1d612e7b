"""An Open311 GeoReport v2 server on 127.0.0.1 for the feed tests, behaving like the real ones:
its own page size (silently cutting the rest, as the spec allows), and optionally a
next-page link (`Link: rel="next"` or `X-Next-Page-URL`), `page`/`page_size` paging, a total
header (`X-Total-Count` or `X-Result-Count`), an "updated since" extension, several
jurisdictions, XML, hidden requests, errors in its own words (an HTML 404 page)."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlencode, urlsplit
from xml.sax.saxutils import escape

T0 = datetime(2026, 11, 21, 12, 0, tzinfo=timezone.utc)


def iso(t: datetime) -> str:
    return t.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def request(i: int, t: datetime, status: str = "open", jurisdiction: str = "wuhai", **kw) -> dict:
    r = {"service_request_id": str(i), "status": status, "service_name": "路灯", "service_code": "017",
         "requested_datetime": iso(t), "updated_datetime": iso(t), "expected_datetime": iso(t + timedelta(days=3)),
         "agency_responsible": "城管局", "lat": 39.67, "long": 106.82, "_jurisdiction": jurisdiction}
    r.update(kw)
    return r


def _t(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class Open311Server:
    """`db`: id → request (with `_jurisdiction`, `_hidden`); the knobs below are attributes."""

    def __init__(self, page_size: int = 100, paging: str = "cut", total_header: str | None = None,
                 updated_param: str | None = None, jurisdictions: bool = False, end_inclusive: bool = False):
        self.db: dict[str, dict] = {}
        self.end_inclusive = end_inclusive   # end_date counted in (as many servers, and the demo, do)
        self.page_size, self.paging, self.total_header = page_size, paging, total_header
        self.updated_param, self.jurisdictions = updated_param, jurisdictions
        self.queries: list[tuple[str, dict]] = []
        self.on_request = None            # called (n-th request) before answering
        self.fail_after: int | None = None  # answer 500 after this many requests
        srv = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):  # noqa: N802
                srv._handle(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.url = self.base + "/open311/v2"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def add(self, *reqs: dict) -> None:
        for r in reqs:
            self.db[r["service_request_id"]] = r

    # -- answering --------------------------------------------------------------------------
    def _handle(self, h) -> None:
        parts = urlsplit(h.path)
        q = dict(parse_qsl(parts.query, keep_blank_values=True))
        self.queries.append((parts.path, q))
        if self.on_request:
            self.on_request(len(self.queries))
        if self.fail_after is not None and len(self.queries) > self.fail_after:
            return self._send(h, 500, b'{"detail": "database is restarting"}', "application/json")
        if parts.path not in ("/open311/v2/requests.json", "/open311/v2/requests.xml"):
            page = (b"<!DOCTYPE html><html><head><title>404 Not Found</title><style>body{}</style></head>"
                    b"<body><h1>Not Found</h1><p>The requested URL was not found on this server.</p>"
                    b"<hr><address>nginx</address></body></html>")
            return self._send(h, 404, page, "text/html")
        xml = parts.path.endswith(".xml")
        if self.jurisdictions and not q.get("jurisdiction_id"):
            return self._error(h, 400, "jurisdiction_id is required: this server serves several", xml)
        rows = [r for r in self.db.values() if not r.get("_hidden")]
        if self.jurisdictions:
            rows = [r for r in rows if r["_jurisdiction"] == q["jurisdiction_id"]]
        if "service_request_id" in q:
            wanted = set(q["service_request_id"].split(","))
            rows = [r for r in rows if r["service_request_id"] in wanted]
        else:
            if "start_date" in q:
                rows = [r for r in rows if _t(r["requested_datetime"]) >= _t(q["start_date"])]
            if "end_date" in q:
                end = _t(q["end_date"])
                rows = [r for r in rows if _t(r["requested_datetime"]) < end
                        or (self.end_inclusive and _t(r["requested_datetime"]) == end)]
            if self.updated_param and self.updated_param in q:
                rows = [r for r in rows if _t(r["updated_datetime"]) > _t(q[self.updated_param])]
        rows.sort(key=lambda r: (r["requested_datetime"], r["service_request_id"]), reverse=True)
        total = len(rows)
        size = self.page_size
        offset = 0
        if self.paging == "page":
            size = min(int(q.get("page_size", self.page_size)), self.page_size)
            offset = (int(q.get("page", 1)) - 1) * size
        elif self.paging in ("link", "xnext"):
            offset = int(q.get("offset", 0))
        page = rows[offset: offset + size]
        headers = {}
        if self.total_header:
            headers[self.total_header] = str(total)
        if self.paging in ("link", "xnext") and offset + size < total:
            nq = dict(q, offset=str(offset + size))
            nxt = f"{parts.path}?{urlencode(nq)}"
            if self.paging == "link":
                headers["Link"] = f'<{self.base}{nxt}>; rel="next", <{self.base}{parts.path}>; rel="first"'
            else:
                headers["X-Next-Page-URL"] = nxt          # relative, as some servers send it
        body = [{k: v for k, v in r.items() if not k.startswith("_")} for r in page]
        if xml:
            return self._send(h, 200, self.to_xml(body), "text/xml; charset=utf-8", headers)
        self._send(h, 200, json.dumps(body, ensure_ascii=False).encode(), "application/json", headers)

    @staticmethod
    def to_xml(body: list[dict]) -> bytes:
        out = ['<?xml version="1.0" encoding="utf-8"?>', "<service_requests>"]
        for r in body:
            out.append("<request>" + "".join(
                f"<{k}>{escape('' if v is None else str(v))}</{k}>" for k, v in r.items()) + "</request>")
        out.append("</service_requests>")
        return "".join(out).encode()

    def _error(self, h, code: int, text: str, xml: bool) -> None:
        if xml:
            body = (f'<?xml version="1.0" encoding="utf-8"?><errors><error><code>{code}</code>'
                    f"<description>{escape(text)}</description></error></errors>").encode()
            return self._send(h, code, body, "text/xml")
        self._send(h, code, json.dumps([{"code": code, "description": text}]).encode(), "application/json")

    @staticmethod
    def _send(h, code: int, data: bytes, ctype: str, headers: dict | None = None) -> None:
        h.send_response(code)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(data)
