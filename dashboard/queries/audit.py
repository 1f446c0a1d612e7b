"""The audit trail: who did or saw what, when — append-only JSON Lines under the data
directory **and** a list in Redis for the /audit page.

Every event goes first to `DATA_DIR/audit/audit.jsonl` (one `write` of one line with
O_APPEND under an exclusive lock, then `fsync`), then to Redis. The file is rotated when it
passes `rotate_bytes` (`audit-YYYYmmddTHHMMSSZ.jsonl`, kept whole). When Redis lost its list
(a restart without persistence), `restore()` refills it from the files at start, so the
page shows the events again; the files stay the record of reference.

Events: login, logout, login_failed, refused (a request refused: forged identity header,
missing permission, out-of-scope action, cross-site POST), export, view_personal_data,
acknowledge, resolve, emergency_mode, settings_reload, token_issue/token_revoke.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import orjson

log = logging.getLogger(__name__)

ROTATE_BYTES = 32 * 1024 * 1024
_TRAILS: dict[str, "AuditTrail"] = {}     # store namespace → the trail of this process


class AuditTrail:
    def __init__(self, store, folder: str | os.PathLike, rotate_bytes: int = ROTATE_BYTES):
        self.store, self.folder, self.rotate_bytes = store, Path(folder), rotate_bytes
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / "audit.jsonl"
        self._lock = threading.Lock()

    def record(self, event: dict) -> dict:
        now = datetime.now(timezone.utc)
        entry = {"at": now.timestamp(), "when": now.isoformat(), **event}
        line = orjson.dumps(entry, default=str) + b"\n"
        with self._lock:
            self._append(line)
        try:
            self.store.audit(entry)
        except Exception as exc:  # noqa: BLE001 - the file holds it; Redis is refilled at start
            log.error("audit: could not write to Redis (kept in %s): %s", self.path, exc)
        return entry

    def _append(self, line: bytes) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if os.fstat(fd).st_size + len(line) > self.rotate_bytes and os.fstat(fd).st_size:
                stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
                os.rename(self.path, self.folder / f"audit-{stamp}.jsonl")
                os.close(fd)
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)

    def files(self) -> list[Path]:
        """Oldest first: the rotated files by name (their stamp), then the current one."""
        out = sorted(self.folder.glob("audit-*.jsonl"))
        return out + ([self.path] if self.path.exists() else [])

    def read(self, limit: int = 100_000) -> list[dict]:
        """The newest `limit` entries from the files, newest first."""
        out: list[dict] = []
        for f in reversed(self.files()):
            lines = f.read_bytes().splitlines()
            for raw in reversed(lines):
                try:
                    out.append(orjson.loads(raw))
                except orjson.JSONDecodeError:
                    continue          # a line cut by a crash mid-write: skipped
                if len(out) >= limit:
                    return out
        return out

    def restore(self, keep: int = 100_000) -> int:
        """Refill Redis from the files when it has fewer entries than they do (Redis lost them)."""
        have = self.store.audit_count()
        entries = self.read(keep)
        if have >= len(entries):
            return 0
        self.store.audit_restore(entries, keep)
        log.warning("audit: Redis held %d entries, the files %d: Redis refilled from %s", have, len(entries), self.folder)
        return len(entries) - have


def register(trail: AuditTrail) -> None:
    _TRAILS[trail.store.ns] = trail


def trail_of(store) -> AuditTrail | None:
    """The trail set up for this very store (a trail left by an earlier runtime of the same
    namespace in this process — its Redis gone — is not used)."""
    trail = _TRAILS.get(store.ns)
    return trail if trail is not None and trail.store is store else None


def record(store, event: dict) -> dict:
    """Record `event` through the process's trail for `store` (file + Redis), or in Redis
    alone when no trail was set up (a bare store in a unit test)."""
    trail = trail_of(store)
    if trail is not None:
        return trail.record(event)
    entry = {"at": time.time(), "when": datetime.now(timezone.utc).isoformat(), **event}
    store.audit(entry)
    return entry


def entries(store, limit: int = 1000, what: str | None = None, who: str | None = None,
            since: float | None = None, until: float | None = None) -> list[dict]:
    """Audit entries newest first, filtered (the /audit page and `/api/v1/audit`)."""
    out = []
    for e in store.audit_log(max(limit * 5, 5000)):
        if what and e.get("what") != what:
            continue
        if who and who.lower() not in str(e.get("who", "")).lower():
            continue
        at = e.get("at") or 0
        if (since is not None and at < since) or (until is not None and at >= until):
            continue
        out.append(e)
        if len(out) >= limit:
            break
    return out
