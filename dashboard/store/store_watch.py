"""Is the store reachable? One small state per process, shared by the pages, the API and the
poller, so an outage is one log line when it starts and one when it ends — not a traceback
per request — and the pages can say since when they show old data.

`STORE_ERRORS` are the exceptions that mean "the store is away" (refused or dropped
connection, timeout, a server still loading its data after a restart, a cluster without a
quorum), as opposed to a bug or a bad request.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

import redis

log = logging.getLogger("dashboard.store")

STORE_ERRORS: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError,      # includes BusyLoadingError (loading the AOF after a restart)
    redis.exceptions.TimeoutError,
    redis.exceptions.ClusterDownError,
)


class StoreWatch:
    """Reachable or not, since when, and when the store last answered."""

    def __init__(self, clock: Callable[[], float] = time.time):
        self.clock = clock
        self._lock = threading.Lock()
        self.reachable = True
        self.since: float | None = None          # when it became unreachable
        self.last_ok: float = clock()            # the last successful call
        self._last_check = 0.0

    def failed(self, exc: BaseException) -> None:
        with self._lock:
            if not self.reachable:
                return
            self.reachable, self.since = False, self.clock()
        log.warning("data store unreachable (%s: %s); pages keep what they show, the poller holds "
                    "its batches and retries", type(exc).__name__, str(exc)[:160])

    def ok(self) -> None:
        with self._lock:
            now = self.clock()
            self.last_ok = now
            if self.reachable:
                return
            away, self.reachable, self.since = now - (self.since or now), True, None
        log.info("data store reachable again after %.0f s", away)

    def check(self, ping: Callable[[], object], min_interval_s: float = 1.0) -> bool:
        """Ask the store (at most once per `min_interval_s`) and record the answer."""
        now = time.monotonic()
        if now - self._last_check >= min_interval_s:
            self._last_check = now
            try:
                ping()
            except STORE_ERRORS as exc:
                self.failed(exc)
            else:
                self.ok()
        return self.reachable

    def state(self) -> dict:
        with self._lock:
            return {"reachable": self.reachable, "since": self.since, "last_ok": self.last_ok}
