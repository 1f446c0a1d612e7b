"""Open311 polling within the spec's limits, against a real HTTP server on 127.0.0.1:
windows of at most 90 days, full pages split, still-open requests re-queried by id."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from dashboard.config.settings import FeedSettings, load_settings
from feeds.poller import Poller

T0 = datetime(2026, 11, 21, 12, 0, tzinfo=timezone.utc)
LIMIT = 50


def iso(t: datetime) -> str:
    return t.isoformat()


class Open311(BaseHTTPRequestHandler):
    requests_db: dict[str, dict] = {}
    queries: list[dict] = []
    max_span = timedelta(days=90)

    def do_GET(self):  # noqa: N802
        q = {k: v[0] for k, v in parse_qs(urlparse(self.path).query).items()}
        type(self).queries.append(q)
        if "service_request_id" in q:
            out = [self.requests_db[i] for i in q["service_request_id"].split(",") if i in self.requests_db]
        else:
            start = datetime.fromisoformat(q["start_date"].replace("Z", "+00:00"))
            end = datetime.fromisoformat(q["end_date"].replace("Z", "+00:00"))
            if end - start > self.max_span:
                return self._send(400, [{"code": 400, "description": f"span over {self.max_span.days} days"}])
            out = [r for r in self.requests_db.values()
                   if start <= datetime.fromisoformat(r["requested_datetime"]) < end]
            out.sort(key=lambda r: r["requested_datetime"], reverse=True)
            out = out[:LIMIT]                          # the spec's cap: the rest is silently cut
        self._send(200, out)

    def _send(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *a):
        pass


@pytest.fixture
def upstream():
    Open311.requests_db = {}
    Open311.queries = []
    Open311.max_span = timedelta(days=90)
    for i in range(120):                             # one request every 2 hours over 10 days
        t = T0 - timedelta(days=10) + timedelta(hours=2 * i)
        Open311.requests_db[str(1000 + i)] = {
            "service_request_id": 1000 + i, "status": "open", "service_name": "路灯", "service_code": "017",
            "requested_datetime": iso(t), "updated_datetime": iso(t), "expected_datetime": iso(t + timedelta(days=3)),
            "agency_responsible": "城管局", "lat": 39.67, "long": 106.82}
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Open311)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/open311/v2"
    srv.shutdown()


def test_o3p001_full_pages_are_split_until_nothing_is_cut(upstream, embedded_store):
    feed = FeedSettings(name="app", kind="tickets", format="open311", url=upstream, page_limit=LIMIT,
                        window_days=90, lookback_days=30, interval_s=1)
    clock = [T0]
    poller = Poller(load_settings(None, env={}), embedded_store, [feed], clock=lambda: clock[0])
    h = poller.run_feed(feed)
    assert h["ok"] and h["accepted"] == 120 and embedded_store.tickets.count() == 120
    windows = [q for q in Open311.queries if "start_date" in q]
    assert len(windows) > 2                           # 120 > 50: the 30-day window was split
    for q in windows:
        span = datetime.fromisoformat(q["end_date"].replace("Z", "+00:00")) - \
            datetime.fromisoformat(q["start_date"].replace("Z", "+00:00"))
        assert span <= timedelta(days=90)

    # an old request closes; its requested_datetime is outside the next window
    old = Open311.requests_db["1003"]
    old.update(status="closed", updated_datetime=iso(T0 + timedelta(minutes=30)))
    Open311.queries = []
    clock[0] = T0 + timedelta(hours=1)
    h = poller.run_feed(feed, force=True)
    assert h["ok"]
    by_id = [q for q in Open311.queries if "service_request_id" in q]
    assert by_id and all(len(q["service_request_id"].split(",")) <= 50 for q in by_id)
    rec = embedded_store.tickets.get(["1003"])[0]
    assert rec["status"] == "closed" and rec["closed_at"] == "2026-11-21T12:30:00Z"
    # closed requests are no longer re-queried
    assert "1003" not in poller._open_ids("app")


def test_o3p002_server_error_is_reported_in_its_own_words_and_windows_fix_it(upstream, embedded_store):
    Open311.max_span = timedelta(days=30)             # a server stricter than the spec
    feed = FeedSettings(name="app", kind="tickets", format="open311", url=upstream, window_days=90,
                        lookback_days=60, interval_s=1)
    poller = Poller(load_settings(None, env={}), embedded_store, [feed], clock=lambda: T0)
    h = poller.run_feed(feed)
    assert h["ok"] is False and "HTTP 400" in h["last_error"] and "span over 30 days" in h["last_error"]
    assert embedded_store.tickets.count() == 0
    feed30 = FeedSettings(name="app", kind="tickets", format="open311", url=upstream, window_days=30, page_limit=LIMIT,
                          lookback_days=60, interval_s=1)
    h = poller.run_feed(feed30, force=True)
    assert h["ok"] is True and embedded_store.tickets.count() == 120
