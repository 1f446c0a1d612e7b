"""Leader changes lose nothing: the leading `cityops poll` process is killed (SIGKILL)
between reading a page from upstream and writing it; a second poller takes the lease and
re-reads from the cursor the dead one left (advanced only after a write), so every ticket
arrives. Two real processes, Debian's redis-server, a canonical upstream on 127.0.0.1."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from dashboard.store.redis_server import connect
from dashboard.store import Store
from tests.canonical_upstream import CanonicalUpstream
from tests.conftest import REPO
from tests.redis_procs import AOF_ON, redis_proc  # noqa: F401 - fixture

N = 30_000
PAGE = 5000


def _poller(config, url, tmp_path, name) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO), REDIS_URL=url, CITYOPS_DATA_DIR=str(tmp_path / name))
    env.pop("CITYOPS_CONFIG", None)
    return subprocess.Popen([sys.executable, "-m", "dashboard.app.cli", "poll", "--config", str(config)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.mark.parametrize("when", ["response-held", "response-just-read"])
def test_lea001_leader_killed_between_read_and_write_loses_nothing(tmp_path, redis_proc, when):
    server = redis_proc(*AOF_ON)
    up = CanonicalUpstream(N, page_cap=PAGE)
    config = tmp_path / "cityops.toml"
    config.write_text(f'''
[poller]
lease_s = 3

[[feeds]]
name = "hotline"
kind = "tickets"
format = "canonical"
url = "{up.url}"
updated_since_param = "updated_since"
page_limit = {PAGE}
interval_s = 1
timeout_s = 60
''')
    first = second = None
    killed = threading.Event()
    try:
        first = _poller(config, server.url, tmp_path, "a")
        if when == "response-held":
            # the leader has read pages 1-2 whole; its request for page 3 is held, then it dies
            up.on_sent = lambda n: up.hold.clear() if n == 2 else None
            assert up.held.wait(60), "the first poller never asked for page 3"
            first.send_signal(signal.SIGKILL)
        else:
            # the leader dies the moment page 2 is in its hands: read, not yet written
            def kill(n):
                if n == 2 and not killed.is_set():
                    first.send_signal(signal.SIGKILL)
                    killed.set()
            up.on_sent = kill
            deadline = time.monotonic() + 60
            while not killed.is_set() and time.monotonic() < deadline:
                time.sleep(0.05)
        first.wait(10)
        up.on_sent = None
        up.hold.set()
        store = Store(connect(server.url), "cityops")
        had = store.tickets.count()
        assert had < N                                  # it died mid-backfill
        state_left = store.feed_state("hotline")
        asked = len(up.queries)
        second = _poller(config, server.url, tmp_path, "b")   # takes the lease within lease_s
        deadline = time.monotonic() + 90
        while store.tickets.count() < N and time.monotonic() < deadline:
            time.sleep(0.2)
        held = {k.decode() for k in store.r.hkeys(store.tickets.k_rec)}
        assert held == up.ids(), f"{len(up.ids() - held)} tickets never arrived"
        # the new leader started where the last *write* left the cursor, not past what was read
        resumed = up.queries[asked]
        assert resumed.get("updated_since", "") == state_left.get("since", "") or not state_left
        store.r.close()
    finally:
        up.hold.set()
        for p in (first, second):
            if p and p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.communicate(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.communicate()
        up.close()
