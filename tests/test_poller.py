"""The poller: failures never crash and lose nothing; backoff and recovery; one poller only."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from dashboard.config.settings import FeedSettings, load_settings
from feeds.poller import Poller
from feeds.demo.tickets import demo_grids, start_simulator
from tests.conftest import REPO


@pytest.fixture
def sim():
    server, url = start_simulator(grids=demo_grids(), seed=7, history_days=2, hang_s=5)
    yield url
    server.stop()


def canonical_feed(url: str, **kw) -> FeedSettings:
    args = dict(name="hotline", kind="tickets", format="canonical", url=f"{url}/canonical/tickets.jsonl",
                updated_since_param="updated_since", page_limit=5000, interval_s=1, timeout_s=4)   # < hang_s
    args.update(kw)
    return FeedSettings(**args)


def fault(url: str, mode: str) -> None:
    requests.post(f"{url}/_control/fail", params={"mode": mode}, timeout=5).raise_for_status()


def test_pol001_dead_upstream_keeps_last_data_backs_off_and_recovers(sim, poll_store):
    feed = canonical_feed(sim)
    poller = Poller(load_settings(None, env={}), poll_store, [feed])
    h = poller.run_feed(feed)
    assert h["ok"] is True and h["accepted"] > 100 and h["rejected"] == 0
    kept, first_success = poll_store.tickets.count(), h["last_success"]

    fault(sim, "500")
    h = poller.run_feed(feed, force=True)
    assert h["ok"] is False and "HTTP 500" in h["last_error"] and h["consecutive_failures"] == 1
    assert h["next_try"] > h["last_attempt"]           # backing off
    assert poller.run_feed(feed) is None               # not due yet: skipped
    assert poll_store.tickets.count() == kept      # the last good data stays
    assert h["last_success"] == first_success          # and its age keeps growing

    fault(sim, "timeout")
    h = poller.run_feed(feed, force=True)
    assert h["ok"] is False and "timed out" in h["last_error"] and h["consecutive_failures"] == 2

    fault(sim, "off")
    h = poller.run_feed(feed, force=True)
    assert h["ok"] is True and h["consecutive_failures"] == 0 and h["next_try"] is None
    assert h["last_success"] > first_success


def test_pol002_open311_garbage_is_an_error_not_a_crash(sim, poll_store):
    feed = FeedSettings(name="app", kind="tickets", format="open311", url=f"{sim}/open311/v2",
                        interval_s=1, timeout_s=5, lookback_days=2)
    poller = Poller(load_settings(None, env={}), poll_store, [feed])
    assert poller.run_feed(feed)["ok"] is True
    n = poll_store.tickets.count()
    assert n > 0
    fault(sim, "garbage")
    h = poller.run_feed(feed, force=True)
    assert h["ok"] is False and "not strict JSON" in h["last_error"]
    fault(sim, "off")
    h = poller.run_feed(feed, force=True)
    assert h["ok"] is True and poll_store.tickets.count() >= n


def test_pol003_same_data_twice_changes_nothing(sim, poll_store):
    feed = canonical_feed(sim)
    poller = Poller(load_settings(None, env={}), poll_store, [feed])
    poller.run_feed(feed)
    v = poll_store.tickets.version()
    poll_store.put_feed_state("hotline", {})     # forget the cursor: everything comes again
    h = poller.run_feed(feed, force=True)
    assert h["inserted"] == 0 and h["updated"] <= 5  # only tickets that changed meanwhile
    assert poll_store.tickets.version() - v == h["updated"]


class _Upstream(BaseHTTPRequestHandler):
    hits: list = []

    def do_GET(self):  # noqa: N802 - http.server's name
        type(self).hits.append((time.monotonic(), self.headers.get("User-Agent", "")))
        body = json.dumps({"ticket_id": "U1", "status": "registered",
                           "created_at": "2026-11-20T10:00:00+08:00"}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def _poll_process(config: str, redis_url: str, data_dir: str) -> subprocess.Popen:
    env = dict(os.environ, REDIS_URL=redis_url, CITYOPS_DATA_DIR=data_dir, PYTHONPATH=str(REPO))
    return subprocess.Popen([sys.executable, "-m", "dashboard.app.cli", "poll", "--config", config], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_pol004_two_processes_one_poller_and_takeover(tmp_path, external_redis_url):
    _Upstream.hits = []
    up = ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    threading.Thread(target=up.serve_forever, daemon=True).start()
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[poller]\nlease_s = 3\n[store]\nnamespace = "lease{os.getpid()}"\n'
                   f'[[feeds]]\nname = "up"\nkind = "tickets"\nformat = "canonical"\n'
                   f'url = "http://127.0.0.1:{up.server_address[1]}/t.jsonl"\ninterval_s = 1\n')
    a = _poll_process(str(cfg), external_redis_url, str(tmp_path / "a"))
    b = _poll_process(str(cfg), external_redis_url, str(tmp_path / "b"))
    try:
        time.sleep(8)
        window = [ua for t, ua in _Upstream.hits if t > time.monotonic() - 5]
        pollers = {ua for ua in window}
        assert len(window) >= 3, "the feed was not polled"
        assert len(pollers) == 1, f"more than one process polled: {pollers}"
        leader_pid = int(next(iter(pollers)).split(":")[1])
        leader, other = (a, b) if leader_pid == a.pid else (b, a)
        assert leader_pid in (a.pid, b.pid)
        os.kill(leader.pid, signal.SIGKILL)            # the leader dies without releasing the lease
        leader.wait(10)
        killed_at = time.monotonic()
        time.sleep(7)                                   # lease 3 s + the renewal tick
        after = {ua for t, ua in _Upstream.hits if t > killed_at + 4.5}
        assert len(after) == 1 and f":{other.pid}:" in next(iter(after)), after
    finally:
        for p in (a, b):
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
                try:
                    p.wait(15)
                except subprocess.TimeoutExpired:
                    p.kill()
        up.shutdown()


def test_pol005_concurrent_renewals_in_one_process_never_report_a_lost_lease(poll_store):
    """The lease job and the feed jobs renew from different threads at the same moment."""
    for attempt in range(20):
        poller = Poller(load_settings(None, env={}), poll_store, [])
        barrier, results = threading.Barrier(8), []

        def renew():
            barrier.wait()
            results.append(poller.renew())

        threads = [threading.Thread(target=renew) for _ in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert results == [True] * 8, f"attempt {attempt}: {results}"
        assert poller.is_leader
        poller.stop()                                   # releases the lease for the next attempt
        assert poll_store.lease("poller", "probe", 5).holder() is None
