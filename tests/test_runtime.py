"""The one-command start: `python app.py` serves the demo; Ctrl-C leaves no Redis behind."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.conftest import REPO, free_port


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_run001_app_serves_demo_and_ctrl_c_leaves_no_redis(tmp_path):
    port = free_port()
    env = dict(os.environ, CITYOPS_PORT=str(port), CITYOPS_DATA_DIR=str(tmp_path / "var"),
               PYTHONPATH=str(REPO))
    env.pop("REDIS_URL", None)
    env.pop("CITYOPS_CONFIG", None)
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 90
        health = None
        while time.monotonic() < deadline:
            try:
                health = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).json()
                # the feeds run concurrently: wait until both the tickets and the area tree are in
                if health["versions"]["tickets"] > 0 and health["versions"]["areas"] > 0:
                    break
            except (requests.ConnectionError, requests.ReadTimeout):
                pass
            time.sleep(1)
        assert health and health["ok"] and health["leader"], health
        assert health["versions"]["tickets"] > 0 and health["versions"]["areas"] > 0, health
        page = requests.get(f"http://127.0.0.1:{port}/", timeout=10)
        assert page.status_code == 200 and "_dash-config" in page.text
        assert not re.search(r"https?://(?!127\.0\.0\.1|localhost)[^\"' ]+\.(js|css)", page.text)
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    pid = int(re.search(r"embedded Redis started: pid (\d+)", out).group(1))
    assert "embedded Redis stopped" in out
    assert not _alive(pid), "the embedded redis-server outlived the console"
    assert (tmp_path / "var" / "cityops.rdb").exists()      # persisted under the data directory
    assert proc.returncode in (0, -signal.SIGINT, 130)
