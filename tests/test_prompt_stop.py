"""Stopping is prompt: SIGTERM (a service manager, a gunicorn restart) or Ctrl-C stops the
console within 5 s even in the middle of a large backfill from a slow upstream, leaves no
redis-server behind, and nothing half-written: the feed's cursor never runs ahead of the
tickets stored, and the data directory opens again cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import requests

from dashboard.store.redis_server import EmbeddedRedis, connect
from dashboard.store import Store
from tests.canonical_upstream import CanonicalUpstream
from tests.conftest import REPO, free_port
from tests.redis_procs import servers_on

N_TICKETS = 200_000


@pytest.fixture(scope="module")
def slow_upstream():
    up = CanonicalUpstream(N_TICKETS, page_cap=5000)
    yield up
    up.close()


@pytest.mark.parametrize("sig,delay_s,pages", [
    (signal.SIGTERM, 0.4, 6),     # a slow export: a 200k backfill takes 40 pages of 0.4 s
    (signal.SIGINT, 0.4, 6),      # Ctrl-C
    (signal.SIGTERM, 25.0, 1),    # an export that hangs: the stop comes with a request in flight
], ids=["sigterm-slow", "sigint-slow", "sigterm-hung"])
def test_stp001_signal_mid_backfill_stops_within_5_s(tmp_path, slow_upstream, sig, delay_s, pages):
    slow_upstream.delay_s = delay_s
    data_dir = tmp_path / "var"
    config = tmp_path / "cityops.toml"
    config.write_text(f'''
[[feeds]]
name = "hotline"
kind = "tickets"
format = "canonical"
url = "{slow_upstream.url}"
updated_since_param = "updated_since"
page_limit = 5000
interval_s = 2
timeout_s = 30
''')
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(REPO), CITYOPS_DATA_DIR=str(data_dir), CITYOPS_PORT=str(port))
    env.pop("REDIS_URL", None)
    env.pop("CITYOPS_CONFIG", None)
    before = slow_upstream.requests
    proc = subprocess.Popen([sys.executable, "-m", "dashboard.app.cli", "run", "--config", str(config)],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:          # the whole console is up …
            try:
                requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
                break
            except requests.RequestException:
                time.sleep(0.2)
        while slow_upstream.requests - before < pages and time.monotonic() < deadline:
            time.sleep(0.1)                         # … and the backfill under way
        assert slow_upstream.requests - before >= pages, "the backfill did not start"
        time.sleep(0.2)
        t0 = time.monotonic()
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=60)
        took = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    print(f"{signal.Signals(sig).name}: stopped in {took:.2f} s")
    assert took < 5, f"took {took:.1f} s to stop:\n{out[-3000:]}"
    assert "embedded Redis stopped" in out, out[-3000:]
    assert "Traceback" not in out, out[-3000:]
    assert not servers_on(data_dir), "a redis-server outlived the console"
    # nothing half-written: the data dir opens, and every ticket up to the cursor is there
    server = EmbeddedRedis(data_dir)
    try:
        store = Store(connect(server.url), "cityops")
        state = store.feed_state("hotline")
        held = {k.decode() for k in store.r.hkeys(store.tickets.k_rec)}
        if state.get("since"):
            assert slow_upstream.ids_through(state["since"], state["after_id"]) <= held
        assert len(held) < N_TICKETS            # it was stopped mid-backfill
        store.r.close()
    finally:
        server.close()
