"""The audit trail: JSON Lines under the data directory (append-only, rotated) and Redis;
it outlives a Redis that lost everything."""

from __future__ import annotations

import json
import subprocess
import time

import redis

from dashboard.queries import audit
from dashboard.store import Store


def test_aud001_every_event_goes_to_the_file_and_redis(embedded_store, tmp_path):
    trail = audit.AuditTrail(embedded_store, tmp_path / "audit")
    audit.register(trail)
    audit.record(embedded_store, {"what": "login", "who": "a"})
    audit.record(embedded_store, {"what": "export", "who": "b", "rows": 3, "masked": True})
    lines = [json.loads(x) for x in (tmp_path / "audit" / "audit.jsonl").read_text().splitlines()]
    assert [(e["what"], e["who"]) for e in lines] == [("login", "a"), ("export", "b")]
    assert lines[0]["when"].endswith("+00:00") and "." in lines[0]["when"]      # aware, microseconds
    assert [e["what"] for e in embedded_store.audit_log(10)] == ["export", "login"]
    assert [e["what"] for e in audit.entries(embedded_store, what="export")] == ["export"]


def test_aud002_rotation_keeps_every_entry_in_order(embedded_store, tmp_path):
    trail = audit.AuditTrail(embedded_store, tmp_path / "a", rotate_bytes=400)
    for i in range(20):
        trail.record({"what": "refused", "who": f"u{i}"})
    files = trail.files()
    assert len(files) > 3 and all(f.stat().st_size <= 400 for f in files)
    assert [e["who"] for e in trail.read()] == [f"u{i}" for i in reversed(range(20))]


def test_aud003_survives_a_redis_that_lost_everything(tmp_path, external_redis_url):
    """Debian's redis-server without persistence: FLUSHALL stands for its restart."""
    r = redis.Redis.from_url(external_redis_url)
    store = Store(r, "aud" + str(int(time.time() * 1000)))
    trail = audit.AuditTrail(store, tmp_path / "audit")
    for i in range(5):
        trail.record({"what": "acknowledge", "who": "duty", "alarm_id": f"A{i}"})
    r.flushall()
    assert store.audit_log(10) == []
    again = audit.AuditTrail(store, tmp_path / "audit")      # what the next start does
    assert again.restore() == 5
    assert [e["alarm_id"] for e in store.audit_log(10)] == [f"A{i}" for i in reversed(range(5))]
    assert again.restore() == 0                                # nothing to do twice
    r.close()


def test_aud004_the_file_takes_the_event_when_redis_is_down(tmp_path):
    """Redis away: the event is still in the file (and Redis is refilled later)."""
    dead = Store(redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2), "x")
    trail = audit.AuditTrail(dead, tmp_path / "audit")
    trail.record({"what": "resolve", "who": "duty", "alarm_id": "A1"})
    assert json.loads((tmp_path / "audit" / "audit.jsonl").read_text())["alarm_id"] == "A1"


def test_aud005_file_is_private(embedded_store, tmp_path):
    trail = audit.AuditTrail(embedded_store, tmp_path / "audit")
    trail.record({"what": "login", "who": "a"})
    mode = (tmp_path / "audit" / "audit.jsonl").stat().st_mode & 0o777
    assert mode == 0o600, oct(mode)
    assert subprocess.run(["test", "-s", str(tmp_path / "audit" / "audit.jsonl")]).returncode == 0
