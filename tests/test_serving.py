"""Production serving: gunicorn gthread workers that only serve (no poller, no demo
upstreams inside a web worker; those run in `cityops poll`), responses gzip'd."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import redis
import requests

from tests.conftest import REPO, free_port


def _listening_inodes() -> set[str]:
    out = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if cols[3] == "0A":           # LISTEN
                out.add(cols[9])
    return out


def _socket_inodes(pid: int) -> set[str]:
    out = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            out.add(target[8:-1])
    return out


def _children(pid: int) -> list[int]:
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.append(int(stat.parent.name))
    return kids


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def test_srv001_gunicorn_gthread_workers_only_serve_and_gzip(tmp_path, external_redis_url):
    ns = f"srv{os.getpid()}"
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[store]\nnamespace = "{ns}"\n[poller]\nlease_s = 3\n[demo]\nhistory_days = 1\n')
    env = dict(os.environ, REDIS_URL=external_redis_url, CITYOPS_CONFIG=str(cfg), PYTHONPATH=str(REPO),
               CITYOPS_DATA_DIR=str(tmp_path / "data"))
    env.pop("SERVER_SOFTWARE", None)
    port = free_port()
    r = redis.Redis.from_url(external_redis_url)
    poll = subprocess.Popen([sys.executable, "-m", "dashboard.app.cli", "poll"], env=env, cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    web = subprocess.Popen([sys.executable, "-m", "gunicorn", "app:server", "-k", "gthread", "-w", "2",
                            "--threads", "4", "-b", f"127.0.0.1:{port}", "--timeout", "120"],
                           env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180
        while True:
            try:
                if requests.get(base + "/", timeout=10).status_code == 200:
                    break
            except requests.RequestException:     # not listening yet, or a first load slower than 10 s
                pass
            assert web.poll() is None and time.monotonic() < deadline, "gunicorn did not come up"
            time.sleep(0.5)
        got = requests.get(base + "/_dash-layout", headers={"Accept-Encoding": "gzip"}, timeout=30)
        assert got.status_code == 200 and got.headers.get("Content-Encoding") == "gzip"
        assert got.json()              # requests un-gzips it: a real layout
        # the poller runs in `cityops poll`, not in a worker
        deadline = time.monotonic() + 60
        while (r.get(f"{ns}:lease:poller") or b"").decode().find(f":{poll.pid}:") < 0:
            assert time.monotonic() < deadline, r.get(f"{ns}:lease:poller")
            time.sleep(0.5)
        # no worker listens on a socket of its own (the demo's upstreams run in `cityops poll`)
        workers = _children(web.pid)
        assert len(workers) == 2
        listening = _listening_inodes()
        shared = _socket_inodes(web.pid) & listening          # gunicorn's own listener
        assert shared
        for pid in workers:
            assert _socket_inodes(pid) & listening <= shared, f"worker {pid} listens on a socket of its own"
        assert any(_socket_inodes(poll.pid) & listening)      # the simulators live here
        _stop(poll)                                           # releases the lease
        time.sleep(5)                                         # > lease_s: a polling worker would take it
        assert r.get(f"{ns}:lease:poller") is None
    finally:
        _stop(poll)
        _stop(web)
        for key in r.scan_iter(f"{ns}:*"):
            r.delete(key)
        r.close()
