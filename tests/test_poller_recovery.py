"""Recovery within one interval: a dead upstream is probed cheaply at the feed's interval,
so the first good poll comes within one interval of the upstream's return (issue 10, item 10).

The upstream is a real HTTP server on 127.0.0.1 that is stopped (connections refused) and
started again on the same port, or answers 503 for a while; the poller's clock is moved by
hand, as the scheduler would call `run_feed` once an interval.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from dashboard.config.settings import FeedSettings, load_settings
from feeds.poller import Poller
from tests.conftest import free_port
from tests.json_upstream import Clock

INTERVAL = 10
T0 = datetime(2026, 11, 20, 8, 0, tzinfo=timezone.utc)
LINES = b"\n".join(
    b'{"ticket_id": "R-%d", "status": "registered", "created_at": "2026-11-20T07:0%d:00+08:00"}' % (i, i)
    for i in range(5)) + b"\n"


class Upstream:
    """A canonical JSON Lines export on a fixed port that can go down and come back."""

    def __init__(self):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/export/tickets.jsonl"
        self.status = 200
        self.methods: list[str] = []
        self.server: ThreadingHTTPServer | None = None
        self.start()

    def start(self) -> None:
        up = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _answer(self, body: bool) -> None:
                up.methods.append(self.command)
                data = LINES if up.status == 200 else b"Service Unavailable"
                self.send_response(up.status)
                self.send_header("Content-Type", "application/x-ndjson" if up.status == 200 else "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if body:
                    self.wfile.write(data)

            def do_GET(self):  # noqa: N802
                self._answer(True)

            def do_HEAD(self):  # noqa: N802
                self._answer(False)

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), H)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


def _poller(store, url):
    feed = FeedSettings(name="hotline", kind="tickets", format="canonical", url=url,
                        interval_s=INTERVAL, timeout_s=2)
    clock = Clock(T0)
    return Poller(load_settings(None, env={}), store, [feed], clock=clock), feed, clock


def test_recovery_after_an_outage_within_one_interval(embedded_store):
    up = Upstream()
    try:
        poller, feed, clock = _poller(embedded_store, up.url)
        assert poller.run_feed(feed)["ok"] is True
        up.stop()                                    # 3 minutes of connection refused
        up.methods = []
        for k in range(1, 19):
            clock.t = T0 + timedelta(seconds=k * INTERVAL)
            h = poller.run_feed(feed)
            assert h is None or h["ok"] is False
        health = embedded_store.feed_health(feed.name)
        assert health["consecutive_failures"] >= 3 and health["unreachable"] is True
        assert health["next_try"] > (T0 + timedelta(seconds=190)).timestamp()   # the backoff is long by now
        up.start()                                   # back at T0 + 185 s
        clock.t = T0 + timedelta(seconds=190)        # the next interval
        h = poller.run_feed(feed)
        assert h is not None and h["ok"] is True and h["consecutive_failures"] == 0
        assert up.methods == ["HEAD", "GET"]         # one cheap probe, then the poll
    finally:
        up.stop()


def test_a_down_upstream_is_probed_by_head_and_polled_only_at_the_backoff(embedded_store):
    up = Upstream()
    try:
        poller, feed, clock = _poller(embedded_store, up.url)
        assert poller.run_feed(feed)["ok"] is True
        up.status, up.methods = 503, []
        for k in range(1, 13):
            clock.t = T0 + timedelta(seconds=k * INTERVAL)
            poller.run_feed(feed)
        # GETs at 10 s and then only when the backoff allows (30, 70 s); a HEAD every other interval
        assert up.methods.count("GET") == 3
        assert up.methods.count("HEAD") == 12 - 3
        assert embedded_store.feed_health(feed.name)["last_probe_ok"] is False
        up.status, up.methods = 200, []
        clock.t = T0 + timedelta(seconds=13 * INTERVAL)
        h = poller.run_feed(feed)
        assert h["ok"] is True and up.methods == ["HEAD", "GET"]
    finally:
        up.stop()


def test_a_broken_payload_still_backs_off_without_probes(embedded_store):
    """An upstream that answers, but with an unreadable document, is not "down": no probe
    could tell when it is fixed, so it is retried on the backoff only."""
    up = Upstream()
    try:
        poller, feed, clock = _poller(embedded_store, up.url)
        up.status = 404
        h = poller.run_feed(feed)
        assert h["ok"] is False and h["unreachable"] is False
        up.methods = []
        clock.t = T0 + timedelta(seconds=INTERVAL)
        assert poller.run_feed(feed) is None and up.methods == []
    finally:
        up.stop()
